"""The vocabulary (issue 16): entries kept in the library, Whisper prompted with them at ingest, cleanup keeping
their spelling, and search finding a passage transcribed before the entry existed, through its mis-hearing.

The recordings are made here with espeak-ng; the name is "Rollo", which whisper-tiny.en writes "Rolo" without a
vocabulary and "Rollo" with it (measured, docs/vocabulary.md)."""

from __future__ import annotations

import json
import subprocess

import pytest

from rag.expand import close_words, sound_key

ROLLO = ("Rollo was the first ruler of Normandy. The chronicles say Rollo was so tall that no horse could carry "
         "him.")
OTHER = "The Rhine rises in the Alps and flows north through Germany into the North Sea at Rotterdam."


def speak(path, text, speed=175):
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True, capture_output=True)
    return path


# -- expansion: which library words may be Whisper's writing of a vocabulary word -----------------------------

LIBRARY = frozenset("rolo roll rollover davis david navy salimos wayneheim chivon panerts pat printers the station "
                    "tips types horse normandy".split())


@pytest.mark.parametrize("term, heard", [("rollo", "rolo"), ("davies", "davis"), ("solimoes", "salimos"),
                                         ("sweynheim", "wayneheim"), ("siobhan", "chivon"), ("pannartz", "panerts")])
def test_a_misheard_name_is_found_by_spelling_or_sound(term, heard):
    assert heard in close_words(term, LIBRARY)


def test_unrelated_and_short_words_are_not_expansions():
    assert close_words("pannartz", LIBRARY) == ["panerts"]  # not "pat", "printers" or "station"
    assert "tips" not in close_words("davies", LIBRARY) and "types" not in close_words("davies", LIBRARY)
    assert close_words("rollo", LIBRARY)[:2] == ["roll", "rolo"] and "rollover" not in close_words("rollo", LIBRARY)
    assert close_words("ray", frozenset({"rey", "rai"})) == []  # under MIN_LEN: too many look-alikes
    assert close_words("rollo", frozenset({"rollo"})) == []  # the word itself is no expansion


def test_sound_key_merges_what_tiny_whisper_confuses():
    assert sound_key("Siobhan") == sound_key("Chivon") == "xpn"
    assert sound_key("Pannartz") == sound_key("Panerts")
    assert sound_key("Davies") != sound_key("Navy")


# -- cleanup keeps the spellings ------------------------------------------------------------------------------


def test_cleanup_keeps_vocabulary_spellings():
    from ingest.enhance import line_ok
    from ingest.normalize import normalize_text, respell

    words = ["Rollo", "Rio Negro", "mlx"]
    assert respell("rollo met ROLLO by the rio negro; rollover", words) == "Rollo met Rollo by the Rio Negro; rollover"
    assert respell("Mlx is fast", words) == "mlx is fast"
    assert normalize_text("Rollo Rollo was tall") == "Rollo Rollo was tall"  # not a stutter
    keep = frozenset({"rollo"})
    raw, renamed = "rollo was the first ruler of normandy and he was tall", "Rolo was the first ruler of Normandy and he was tall."
    assert line_ok(raw, renamed) and not line_ok(raw, renamed, keep)
    assert line_ok(raw, "Rollo was the first ruler of Normandy, and he was tall.", keep)


def test_prompt_holds_what_fits_episode_words_first():
    from ingest.asr import prompting, vocabulary, vocabulary_prompt
    from ingest.asr.base import PROMPT_CHARS

    assert vocabulary() == () and vocabulary_prompt() is None
    many = ["Own"] + [f"Name{i:03d}" for i in range(200)]
    with prompting(many):
        kept = vocabulary()
        assert kept[0] == "Own" and 0 < len(kept) < len(many)
        assert len(vocabulary_prompt()) <= PROMPT_CHARS
    with prompting(["Rollo", "Davies"]):
        assert vocabulary_prompt() == "Rollo, Davies."
    assert vocabulary() == ()


# -- the lists in the library ---------------------------------------------------------------------------------


def test_vocab_add_list_remove(settings, tmp_path, capsys):
    from rag import vocab
    from rag.cli import main
    from rag.schema import Episode
    from rag.store import Store

    store = Store(settings)
    store.put_episode(Episode(id="ep1" * 8, title="Normandy", source="normandy.wav", status="ready"))
    assert main(["vocab", "add", "Rollo", "Rio  Negro", "rollo"]) == 0
    assert vocab.words_for(store) == ["Rio Negro", "rollo"]  # one entry for the two spellings given
    assert main(["vocab", "add", "Rollo"]) == 0  # a new spelling replaces the entry
    assert main(["vocab", "add", "Davies", "Rollo", "--episode", "Normandy"]) == 0
    assert vocab.words_for(store, "ep1" * 8) == ["Davies", "Rollo", "Rio Negro"]  # its own first, no repeats
    capsys.readouterr()
    assert main(["vocab", "list", "--json"]) == 0
    listed = [(e["word"], e["episode_id"]) for e in json.loads(capsys.readouterr().out)]
    assert listed == [("Rio Negro", None), ("Rollo", None), ("Davies", "ep1" * 8), ("Rollo", "ep1" * 8)]
    assert main(["vocab", "remove", "ROLLO"]) == 0  # from the library's list and the episode's
    assert vocab.words_for(store, "ep1" * 8) == ["Davies", "Rio Negro"]
    capsys.readouterr()
    for bad in (["vocab", "remove", "Rollo"], ["vocab", "add", "  "], ["vocab", "add", "x", "--episode", "nope"],
                ["vocab", "add", "a b c d e"]):
        assert main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    store.delete_episode("ep1" * 8)  # an episode's list goes with it
    assert [e.word for e in vocab.entries(Store(settings))] == ["Rio Negro"]
    other = str(tmp_path / "other")  # the settings flags, before the action or after it
    assert main(["vocab", "--data-dir", other, "add", "Before"]) == 0
    assert main(["vocab", "add", "After", "--data-dir", other]) == 0
    capsys.readouterr()
    assert main(["vocab", "list", "--json", "--data-dir", other]) == 0
    assert [e["word"] for e in json.loads(capsys.readouterr().out)] == ["After", "Before"]
    from rag.settings import set_settings

    set_settings(settings)
    assert [e.word for e in vocab.entries(Store(settings))] == ["Rio Negro"]


# -- the acceptance line: real recordings, real Whisper, real library -----------------------------------------


def _search(capsys, query):
    from rag.cli import main

    capsys.readouterr()
    assert main(["search", query, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["results"]


def _transcript(store, episode_id):
    return " ".join(s.text for s in store.segments(episode_id))


def test_vocabulary_spells_new_episodes_and_search_finds_old_mishearings(settings, pack, tmp_path, capsys):
    from ingest.pipeline import Pipeline, collect
    from rag.cli import main
    from rag.store import Store

    for name in ("whisper-tiny.en", "all-minilm-l6-v2"):
        pack(name)
    old, other = speak(tmp_path / "normandy.wav", ROLLO), speak(tmp_path / "rhine.wav", OTHER)
    pipe = Pipeline(settings)
    items, _ = collect([old, other])
    done = [pipe.ingest_item(i) for i in items]
    assert [r.status for r in done] == ["ingested", "ingested"], [r.reason for r in done]
    store = Store(settings)
    heard = _transcript(store, done[0].episode_id)
    assert "Rolo" in heard and "Rollo" not in heard, heard  # the mis-hearing this test is about

    before = _search(capsys, "Rollo")
    assert all(r["matched"] == 0 for r in before)  # without the entry "Rollo" is found in no passage
    assert main(["vocab", "add", "Rollo"]) == 0
    after = _search(capsys, "Rollo")
    assert after[0]["episode_id"] == done[0].episode_id and "Rolo" in after[0]["text"], after
    assert after[0]["matched"] == 1 and after[0]["overlap"] == 1.0

    copy = speak(tmp_path / "normandy again.wav", ROLLO, speed=165)  # other bytes: a new episode
    res = pipe.ingest_item(collect([copy])[0][0])
    assert res.status == "ingested", res.reason
    spelled = _transcript(Store(settings), res.episode_id)
    assert spelled.count("Rollo") == 2 and "Rolo" not in spelled, spelled
