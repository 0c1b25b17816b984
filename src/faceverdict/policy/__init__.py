"""The policy file: read once, validated section by section, with its version and digest.

One TOML file holds every rule the service applies: score bands, signal rules and abstentions
per flow (``flows``), human review (``review`` tables) and asynchronous assurance
(``assurance`` tables). ``load_policy_file`` reads and decodes it once and returns every
section; a bad file is refused with one line naming the file and the offending field.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from faceverdict.domain.assurance import AssurancePolicy
from faceverdict.domain.policy import Policy
from faceverdict.domain.review import ReviewPolicy
from faceverdict.errors import ConfigurationError
from faceverdict.policy.assurance import parse_assurance_policy
from faceverdict.policy.document import read_policy_text
from faceverdict.policy.flows import parse_policy
from faceverdict.policy.review import parse_review_policy


@dataclass(frozen=True)
class PolicyFile:
    """Every section of one policy file, with what identifies the file."""

    version: str
    sha256: str  # of the file's text: shows an edit made without a version bump
    source: str  # the path, or ``default.toml (bundled)``, for messages
    decisions: Policy
    review: ReviewPolicy
    assurance: AssurancePolicy


def parse_policy_file(text: str, source: str = "<policy>") -> PolicyFile:
    """Validate a policy document's text and build every section."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"policy {source}: not valid TOML: {exc}") from None
    decisions = parse_policy(data, source)
    return PolicyFile(
        version=decisions.version,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=source,
        decisions=decisions,
        review=parse_review_policy(data, source),
        assurance=parse_assurance_policy(data, source),
    )


def load_policy_file(path: Path | None = None) -> PolicyFile:
    """The policy at ``path``, or the bundled default policy when ``path`` is None."""
    text, source = read_policy_text(path)
    return parse_policy_file(text, source)


def load_policy(path: Path | None = None) -> Policy:
    """The decision rules (bands, signal rules, abstentions) of the policy at ``path``."""
    return load_policy_file(path).decisions
