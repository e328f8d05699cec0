"""The web app (``pona serve``): ``pona.web.app.create_app(checkpoint, data_dir) -> FastAPI``.

Needs the ``web`` extra (FastAPI, uvicorn, python-multipart); importing ``pona`` does not import it.
"""
