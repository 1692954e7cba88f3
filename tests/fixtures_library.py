"""A small real library, built once per test session and shared by the read-side tests.

It holds the episodes of the spoken-QA manifest (tests/data/spoken_qa/manifest.json): four short talks spoken by
espeak-ng, `whisper_jfk.wav` and the 231 s LJSpeech long-form reading from ../shared/audio/asr — ingested with the
real pipeline (real ASR, embeddings and LanceDB). tests/conftest.py makes the fixture available to every module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.settings import Settings

MANIFEST = Path(__file__).parent / "data" / "spoken_qa" / "manifest.json"


@dataclass
class Library:
    settings: Settings
    ids: dict[str, str]  # manifest episode id → library episode id
    questions: list  # rag.eval.GoldQuestion
    manifest: Path = MANIFEST

    def cli(self, *args: str) -> int:
        """`audiorag ARGS…` against this library (its data and models dirs); the CLI's settings are dropped after."""
        from rag.cli import main
        from rag.settings import set_settings

        try:
            return main([*args, "--data-dir", self.settings.data_dir, "--models-dir", self.settings.models_dir])
        finally:
            set_settings(None)


_built: dict[str, Library] = {}  # one build per session, even when several modules import the fixture


@pytest.fixture(scope="session")
def library(tmp_path_factory, models_dir, asr_manifest) -> Library:
    if "lib" not in _built:
        from rag.eval import ingest_episodes, load_manifest

        root = tmp_path_factory.mktemp("library")
        settings = Settings(data_dir=str(root / "data"), models_dir=str(models_dir))
        _, specs, questions = load_manifest(MANIFEST, audio_dir=root / "audio")
        ids = ingest_episodes(specs, settings, progress=lambda m: None)
        _built["lib"] = Library(settings, ids, questions)
    return _built["lib"]
