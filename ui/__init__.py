"""The web app: a Gradio Blocks UI (and a `gradio_client` API) over the same functions the CLI uses.

`ui.app.build_app()` builds it, `ui.app.launch()` starts it with the settings that matter (offline assets, audio
served from the library, upload size limit, queue); `audiorag serve` (ui.serve) is the command.
"""
