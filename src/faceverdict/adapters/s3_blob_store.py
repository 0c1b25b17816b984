"""S3BlobStore: capture bytes in S3 or an S3-compatible store (MinIO, Ceph, ...), scale-out.

The bytes are already encrypted by ``EncryptingBlobStore`` (per-subject keys) before they
reach this store; a single PUT is atomic in S3, so readers never see half an object.
"""

from __future__ import annotations

import re
from typing import Any

from faceverdict.errors import ConfigurationError, Unavailable

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")


class S3BlobStore:
    """Objects under ``prefix`` in one bucket, through a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @classmethod
    def connect(
        cls,
        bucket: str,
        *,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        create_bucket: bool = False,
    ) -> S3BlobStore:
        """A store on a boto3 client (credentials from the usual AWS chain)."""
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - the aws extra is not installed
            raise ConfigurationError(
                "blob_store 's3' needs boto3: pip install 'faceverdict[aws]'"
            ) from None
        client = boto3.client(
            "s3",
            region_name=region or "us-east-1",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        store = cls(client, bucket, prefix)
        if create_bucket:
            store.ensure_bucket()
        return store

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self._bucket)

    def _key(self, key: str) -> str:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self._prefix + key

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(Bucket=self._bucket, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(kwargs.get("Key")) from None
            raise Unavailable(f"object storage error: {code or exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"object storage unavailable: {exc}") from exc

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (one PUT: all or nothing)."""
        self._call("put_object", Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; KeyError if absent."""
        body: bytes = self._call("get_object", Key=self._key(key))["Body"].read()
        return body

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are ignored."""
        self._call("delete_object", Key=self._key(key))

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        try:
            self._call("head_object", Key=self._key(key))
        except KeyError:
            return False
        return True
