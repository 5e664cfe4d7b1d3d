"""`medkb serve`: the API over HTTP (FastAPI + uvicorn) with the web page at `/`.

    from medkb.server import ServerConfig, create_app, serve
    serve(medkb.open("kb1"), ServerConfig(port=8000))

Imports FastAPI only when used; `medkb --help` stays light.
"""

from medkb.server.config import ServerConfig, check_bind

__all__ = ["ServerConfig", "check_bind", "create_app", "serve"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003 - re-exported lazily
    from medkb.server.app import create_app as make

    return make(*args, **kwargs)


def serve(*args, **kwargs):  # noqa: ANN002, ANN003
    from medkb.server.run import serve as run

    return run(*args, **kwargs)
