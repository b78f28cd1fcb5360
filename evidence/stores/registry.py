"""A store from its URI: `s3://BUCKET/PREFIX`, `file://PATH` or a plain path."""

from __future__ import annotations

from pathlib import Path

from core.aws import AwsAccount
from core.errors import BadInput
from evidence.stores.interface import Store


def open_store(uri: str, account: AwsAccount | None = None) -> Store:
    """The store at `uri`; an S3 store acts through `account` (the one AWS session object)."""
    if uri.startswith("s3://"):
        from evidence.stores.s3 import S3Store

        return S3Store(uri, account or AwsAccount(session_name="breachkit-locker"))
    if "://" in uri and not uri.startswith("file://"):
        raise BadInput(
            f"unknown store {uri!r}",
            hint="s3://BUCKET/PREFIX, file://PATH or a folder",
            field="store",
        )
    from evidence.stores.local import LocalStore

    path = uri.removeprefix("file://")
    if not path:
        raise BadInput("the store folder is empty", field="store")
    return LocalStore(Path(path))
