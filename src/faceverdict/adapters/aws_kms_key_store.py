"""AwsKmsKeyStore: data keys generated and unwrapped by AWS KMS (GenerateDataKey / Decrypt).

For scale-out deployments; needs the ``aws`` extra (boto3). The KEK never leaves KMS; the
encryption context (the data key's id, never a subject pseudonym) is bound to every wrapped
key and appears in CloudTrail, so every unwrap is audited by AWS as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faceverdict.errors import ConfigurationError, KeyUnavailable
from faceverdict.ports.captures import DataKey


class AwsKmsKeyStore:
    """Wraps data keys with a KMS key (symmetric, ``SYMMETRIC_DEFAULT``)."""

    def __init__(self, key_id: str, client: Any) -> None:
        if not key_id:
            raise ConfigurationError("the AWS KMS key id is empty")
        self._key_id = key_id
        self._client = client

    @classmethod
    def connect(
        cls, key_id: str, *, region: str | None = None, endpoint_url: str | None = None
    ) -> AwsKmsKeyStore:
        """A key store on a boto3 KMS client (credentials from the usual AWS chain)."""
        try:
            import boto3
        except ImportError:
            raise ConfigurationError(
                "keystore 'aws-kms' needs boto3: pip install 'faceverdict[aws]'"
            ) from None
        client = boto3.client("kms", region_name=region, endpoint_url=endpoint_url)
        return cls(key_id, client)

    @property
    def kek_id(self) -> str:
        """``aws-kms:`` and the configured key id or ARN."""
        return f"aws-kms:{self._key_id}"

    def generate_data_key(self, context: Mapping[str, str]) -> DataKey:
        """A new AES-256 data key from KMS, wrapped under the KMS key and bound to ``context``."""
        response = self._call(
            "generate_data_key",
            KeyId=self._key_id,
            KeySpec="AES_256",
            EncryptionContext=dict(context),
        )
        return DataKey(
            plaintext=bytes(response["Plaintext"]),
            wrapped=bytes(response["CiphertextBlob"]),
            kek_id=self.kek_id,
        )

    def unwrap(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext data key from KMS Decrypt; KeyUnavailable if KMS refuses or is down."""
        response = self._call(
            "decrypt",
            CiphertextBlob=wrapped,
            EncryptionContext=dict(context),
            KeyId=self._key_id,
        )
        return bytes(response["Plaintext"])

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise KeyUnavailable(f"AWS KMS {operation} refused: {code}") from None
        except BotoCoreError as exc:
            raise KeyUnavailable(f"AWS KMS unreachable: {exc}") from None
        return response
