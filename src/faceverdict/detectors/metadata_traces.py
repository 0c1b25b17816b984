"""Generator traces in unsigned image metadata: EXIF, XMP, PNG text chunks and IPTC.

Everything here is unsigned and trivially removed or forged, so it only ever counts as
evidence *of a fake*: a generator writing its name, its sampler settings or an IPTC
"trained algorithmic media" source type is an admission nobody fakes on a genuine photo.
The absence of traces, or a camera-looking ``Make``/``Software``, says nothing.

The patterns are data (``GENERATOR_PATTERNS``, ``CHUNK_RULES``), matched case-insensitively
on word boundaries: a name must not be glued to letters or digits on either side, so
``Flux`` does not fire inside ``Influx``. Ambiguous names (``Flux``, ``Imagen``,
``Firefly``, ``Photoshop``, which also appears in every Adobe XMP namespace) are only
looked for in software fields (EXIF ``Software``, XMP ``CreatorTool``/``softwareAgent``,
...); distinctive ones (``Midjourney``, ``Stable Diffusion``) anywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from faceverdict.detectors.base import ImageMetadata

METADATA_GENERATOR_TRACE = "METADATA_GENERATOR_TRACE"
METADATA_AI_SOURCE_TYPE = "METADATA_AI_SOURCE_TYPE"
METADATA_FACE_EDITOR = "METADATA_FACE_EDITOR"
METADATA_PHOTO_EDITOR = "METADATA_PHOTO_EDITOR"

IPTC_SOURCE_TYPE_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

# IPTC digital source types that mean "made by a generator", with how strongly. The three
# generative-AI codes per IPTC, plus algorithmicMedia (pixels computed without any capture,
# e.g. a procedural render): for a face capture that is synthetic too, only a bit weaker.
GENERATIVE_SOURCE_TYPES: Mapping[str, float] = {
    "trainedAlgorithmicMedia": 0.98,
    "compositeWithTrainedAlgorithmicMedia": 0.97,
    "compositeSynthetic": 0.97,
    "algorithmicMedia": 0.95,
}
# Unsigned metadata can be copied from another file by a tool (e.g. an upscaler keeping
# tags): a little weaker than the same statement bound to the pixels by a C2PA signature.
_UNSIGNED_SOURCE_TYPE_DISCOUNT = 0.02

# Only this much of any one field is searched as text, and of an XMP packet for software
# names (a Photoshop history can run to megabytes): it bounds the time, ~5 ms at worst.
MAX_FIELD_CHARS = 64 * 1024
MAX_XMP_CHARS = 256 * 1024

_KNOWN_SOURCE_TYPES = (
    *("algorithmicallyEnhanced", "algorithmicMedia", "composite", "compositeCapture"),
    *("compositeSynthetic", "compositeWithTrainedAlgorithmicMedia", "computationalCapture"),
    *("dataDrivenMedia", "digitalArt", "digitalCapture", "digitalCreation", "humanEdits"),
    *("minorHumanEdits", "negativeFilm", "positiveFilm", "print", "screenCapture"),
    *("trainedAlgorithmicMedia", "virtualRecording"),
)
_SOURCE_TYPE_BY_LOWER = {code.lower(): code for code in _KNOWN_SOURCE_TYPES}
_SOURCE_TYPE_URI = re.compile(r"digitalsourcetype/([A-Za-z]+)", re.IGNORECASE)


def source_type_code(value: str) -> str | None:
    """The IPTC code (``trainedAlgorithmicMedia``) of a source type URI or bare code."""
    match = _SOURCE_TYPE_URI.search(value)
    code = match.group(1) if match else value.strip()
    return _SOURCE_TYPE_BY_LOWER.get(code.lower())


@dataclass(frozen=True)
class Trace:
    """One piece of metadata evidence: what was found, where, and how strong it is."""

    reason: str
    fake_probability: float
    tool: str
    where: str


@dataclass(frozen=True)
class GeneratorPattern:
    """A tool name to look for, case-insensitive, wrapped in word boundaries.

    In ``regex``, ``~`` stands for an optional separator: any of ``[ ._-]`` in software
    fields, but only ``[._-]`` in free text, where "novel AI" or "mid journey" may just be
    words. ``anywhere``: also search free text (descriptions, comments, the whole XMP
    packet), not only software fields; only distinctive names may be looked for anywhere.
    """

    tool: str
    regex: str
    reason: str = METADATA_GENERATOR_TRACE
    fake_probability: float = 0.95
    anywhere: bool = True
    in_software: re.Pattern[str] = field(init=False, repr=False, compare=False)
    in_text: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    hints: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled for lower-cased text, without a leading look-behind, so that the regex
        # engine can jump between occurrences of the literal prefix; the left word
        # boundary is checked by ``search``.
        def compile_with(separator: str) -> re.Pattern[str]:
            return re.compile(rf"(?:{self.regex.replace('~', separator)})(?![a-z0-9])")

        object.__setattr__(self, "in_software", compile_with(r"[\s._-]?"))
        object.__setattr__(self, "in_text", compile_with(r"[._-]?") if self.anywhere else None)
        object.__setattr__(self, "hints", _literal_prefixes(self.regex))

    def search(self, lowered: str, *, software: bool) -> bool:
        """Whether the pattern occurs in ``lowered`` (lower-cased text) on word boundaries.

        A plain substring test on each alternative's literal prefix comes first: it rules
        out almost every pattern at C speed before any regex runs.
        """
        regex = self.in_software if software else self.in_text
        if regex is None or not any(hint in lowered for hint in self.hints):
            return False
        for match in regex.finditer(lowered):
            start = match.start()
            if start == 0 or not _is_word_char(lowered[start - 1]):
                return True
        return False


def _is_word_char(char: str) -> bool:
    return "a" <= char <= "z" or "0" <= char <= "9"


def _literal_prefixes(regex: str) -> tuple[str, ...]:
    """The leading plain letters/digits of each top-level alternative of ``regex``."""
    alternatives, depth, start = [], 0, 0
    for i, char in enumerate(regex):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            alternatives.append(regex[start:i])
            start = i + 1
    alternatives.append(regex[start:])
    prefixes = [re.match(r"[a-z0-9]*", alt.lower()).group(0) for alt in alternatives]  # type: ignore[union-attr]
    return tuple(sorted(set(prefixes)))


_FACE, _EDIT = METADATA_FACE_EDITOR, METADATA_PHOTO_EDITOR
_P = GeneratorPattern

GENERATOR_PATTERNS: tuple[GeneratorPattern, ...] = (
    # Image generators and their front-ends.
    _P("Stable Diffusion", r"stable\s?diffusion|stable~diffusion|sdxl|sd~xl"),
    _P("Stable Diffusion", r"sd~[123](?:\.5)?", anywhere=False),
    _P("AUTOMATIC1111", r"automatic1111|sd~web~?ui|stable\s?diffusion~web~?ui"),
    _P("ComfyUI", r"comfy~ui"),
    _P("InvokeAI", r"invoke~ai"),
    _P("NovelAI", r"novel~ai"),
    _P("Fooocus", r"fooocus"),
    _P("Midjourney", r"mid~journey"),
    _P("DALL-E", r"dall[·•-]e(?:~[23])?|dall~e~[23]"),
    _P("DALL-E", r"dall~e", anywhere=False),  # bare "dalle" is an Italian word
    _P("Adobe Firefly", r"adobe\s?firefly"),
    _P("Adobe Firefly", r"firefly", fake_probability=0.9, anywhere=False),
    _P("Imagen", r"google\s?imagen"),
    _P("Imagen", r"imagen(?:~[1-4])?", fake_probability=0.9, anywhere=False),
    _P("Flux", r"flux\.1|black\s?forest\s?labs"),
    _P("Flux", r"flux", fake_probability=0.9, anywhere=False),
    _P("Leonardo.Ai", r"leonardo(?:~|\s)ai"),
    _P("NightCafe", r"night~cafe"),
    _P("DreamStudio", r"dream~studio"),
    _P("Stability AI", r"stability(?:~|\s)ai"),
    _P("Draw Things", r"draw~things"),
    _P("Playground AI", r"playground(?:~|\s)ai"),
    _P("Craiyon", r"craiyon"),
    _P("Artbreeder", r"artbreeder"),
    _P("OpenAI", r"openai|chatgpt|gpt~image(?:~1)?|gpt-4o"),
    _P("Bing Image Creator", r"bing\s+image\s+creator"),
    _P("Kandinsky", r"kandinsky", fake_probability=0.9, anywhere=False),
    _P("Ideogram", r"ideogram", fake_probability=0.9, anywhere=False),
    _P("Runway", r"runway(?:ml)?", fake_probability=0.9, anywhere=False),
    _P("Gemini", r"gemini", fake_probability=0.9, anywhere=False),
    _P("Diffusers", r"diffusers", fake_probability=0.9, anywhere=False),
    # Face-swap and deepfake tools.
    _P("DeepFaceLab", r"deep~face~(?:lab|live)"),
    _P("FaceFusion", r"face~fusion"),
    _P("faceswap", r"face~swap(?:per)?", anywhere=False),
    _P("roop", r"roop", anywhere=False),
    _P("Reface", r"reface", anywhere=False),
    # Face-retouch apps reshape faces (age, gender, "beautify"): more suspicious than a
    # photo editor, far from proof.
    _P("FaceApp", r"face~app", _FACE, 0.75),
    _P("Facetune", r"facetune~?2?", _FACE, 0.75),
    _P("Remini", r"remini", _FACE, 0.75, anywhere=False),
    _P("Meitu", r"meitu", _FACE, 0.7, anywhere=False),
    _P("BeautyPlus", r"beauty~plus", _FACE, 0.7, anywhere=False),
    _P("YouCam", r"youcam", _FACE, 0.7, anywhere=False),
    _P("AirBrush", r"air~brush", _FACE, 0.7, anywhere=False),
    _P("PortraitPro", r"portrait~pro", _FACE, 0.7, anywhere=False),
    _P("Lensa", r"lensa", _FACE, 0.7, anywhere=False),
    # General photo editors: an edit is not a fake, but a KYC capture should come straight
    # from a camera, so a weak signal. Software fields only ("photoshop" is in every Adobe
    # XMP namespace declaration).
    _P("Adobe Photoshop", r"photoshop", _EDIT, 0.6, anywhere=False),
    _P("Adobe Lightroom", r"lightroom", _EDIT, 0.6, anywhere=False),
    _P("GIMP", r"gimp", _EDIT, 0.6, anywhere=False),
    _P("Snapseed", r"snapseed", _EDIT, 0.6, anywhere=False),
    _P("Pixelmator", r"pixelmator", _EDIT, 0.6, anywhere=False),
    _P("Affinity Photo", r"affinity~photo", _EDIT, 0.6, anywhere=False),
    _P("Paint.NET", r"paint\.net", _EDIT, 0.6, anywhere=False),
    _P("Photopea", r"photopea", _EDIT, 0.6, anywhere=False),
    _P("Luminar", r"luminar", _EDIT, 0.6, anywhere=False),
    _P("PicsArt", r"picsart", _EDIT, 0.6, anywhere=False),
    _P("Canva", r"canva", _EDIT, 0.6, anywhere=False),
)


def _json_object(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


_A1111_MARKERS = ("Steps:", "Sampler:", "CFG scale:", "Seed:", "Model hash:", "Size:")


def _sd_parameters(text: str) -> bool:
    """AUTOMATIC1111/Forge/SD.Next generation parameters ('Steps: 20, Sampler: ...')."""
    return sum(marker in text for marker in _A1111_MARKERS) >= 2


def _comfy_prompt(text: str) -> bool:
    """ComfyUI API prompt: ``{"3": {"class_type": "KSampler", "inputs": {...}}, ...}``."""
    data = _json_object(text)
    return isinstance(data, dict) and any(
        isinstance(node, dict) and "class_type" in node for node in data.values()
    )


def _comfy_workflow(text: str) -> bool:
    """ComfyUI editor workflow: ``{"nodes": [...], "links": [...], ...}``."""
    data = _json_object(text)
    return isinstance(data, dict) and isinstance(data.get("nodes"), list) and "links" in data


def _novelai_comment(text: str) -> bool:
    """NovelAI ``Comment`` chunk: JSON with sampler settings."""
    data = _json_object(text)
    return isinstance(data, dict) and "steps" in data and ("sampler" in data or "uc" in data)


def _present(text: str) -> bool:
    return bool(text.strip())


@dataclass(frozen=True)
class ChunkRule:
    """A PNG text chunk (key matched case-insensitively) whose content gives a tool away."""

    key: str
    tool: str
    check: Callable[[str], bool]
    fake_probability: float = 0.97


CHUNK_RULES: tuple[ChunkRule, ...] = (
    ChunkRule("parameters", "Stable Diffusion web UI", _sd_parameters),
    ChunkRule("prompt", "ComfyUI", _comfy_prompt),
    ChunkRule("workflow", "ComfyUI", _comfy_workflow),
    ChunkRule("invokeai_metadata", "InvokeAI", _present),
    ChunkRule("invokeai_graph", "InvokeAI", _present),
    ChunkRule("sd-metadata", "InvokeAI", _present),
    ChunkRule("dream", "InvokeAI", _present),
    ChunkRule("fooocus_scheme", "Fooocus", _present),
    ChunkRule("comment", "NovelAI", _novelai_comment),
)

# Fields holding the name of the software that wrote the file (lower-cased keys).
_SOFTWARE_KEYS = frozenset(
    {"software", "processingsoftware", "hostcomputer", "creatortool", "originatingprogram"}
)
# EXIF fields holding free text worth searching (lower-cased keys); other EXIF tags are
# numbers or camera names and are skipped.
_EXIF_TEXT_KEYS = frozenset(
    {"imagedescription", "usercomment", "artist", "xpcomment", "xpsubject", "xptitle",
     "xpkeywords", "xpauthor", "copyright", "make", "model"}
)  # fmt: skip
_XMP_SOFTWARE = re.compile(
    r"(?:CreatorTool|softwareAgent|Software)\s*(?:=\s*[\"']([^\"']{1,500})[\"']"
    r"|>\s*([^<]{1,500})<)"
)


def _fields(metadata: ImageMetadata) -> Iterator[tuple[str, str, bool]]:
    """(where, text, is_software_field) for every metadata field worth searching."""
    for key, value in metadata.exif.items():
        lower = key.lower()
        if lower in _SOFTWARE_KEYS or lower in _EXIF_TEXT_KEYS:
            yield f"exif:{key}", value, lower in _SOFTWARE_KEYS
    for key, value in metadata.png_text.items():
        yield f"png:{key}", value, key.lower() in _SOFTWARE_KEYS
    for key, value in metadata.iptc.items():
        yield f"iptc:{key}", value, key.lower() in _SOFTWARE_KEYS
    if metadata.xmp:
        xmp = metadata.xmp[:MAX_XMP_CHARS]
        # A Photoshop history repeats the same softwareAgent hundreds of times.
        agents = {(m.group(1) or m.group(2)).strip() for m in _XMP_SOFTWARE.finditer(xmp)}
        for agent in sorted(agents - {""}):
            yield "xmp:software", agent, True
        yield "xmp", xmp, False


def _source_type_traces(where: str, text: str, lowered: str) -> Iterator[Trace]:
    codes: set[str] = set()
    if "digitalsourcetype" in lowered:
        codes.update(m.group(1) for m in _SOURCE_TYPE_URI.finditer(text))
    if where.lower().endswith("digitalsourcetype"):  # a bare code in a named field
        codes.add(text.strip())
    for raw in codes:
        code = source_type_code(raw)
        if code is not None and code in GENERATIVE_SOURCE_TYPES:
            p = GENERATIVE_SOURCE_TYPES[code] - _UNSIGNED_SOURCE_TYPE_DISCOUNT
            yield Trace(METADATA_AI_SOURCE_TYPE, p, code, where)


def find_traces(metadata: ImageMetadata) -> tuple[Trace, ...]:
    """Every generator, editor and AI source-type trace in ``metadata``, deduplicated."""
    found: dict[tuple[str, str], Trace] = {}

    def add(trace: Trace) -> None:
        key = (trace.reason, trace.tool)
        if key not in found or trace.fake_probability > found[key].fake_probability:
            found[key] = trace

    for where, raw, is_software in _fields(metadata):
        text = raw[:MAX_FIELD_CHARS]
        lowered = text.lower()
        for pattern in GENERATOR_PATTERNS:
            if pattern.search(lowered, software=is_software):
                add(Trace(pattern.reason, pattern.fake_probability, pattern.tool, where))
        if _sd_parameters(text):  # A1111 also writes its parameters to EXIF UserComment
            add(Trace(METADATA_GENERATOR_TRACE, 0.97, "Stable Diffusion web UI", where))
        for trace in _source_type_traces(where, text, lowered):
            add(trace)
    for key, value in metadata.png_text.items():
        text = value[:MAX_FIELD_CHARS]
        for rule in CHUNK_RULES:
            if key.lower() == rule.key and rule.check(text):
                add(Trace(METADATA_GENERATOR_TRACE, rule.fake_probability, rule.tool, f"png:{key}"))
    return tuple(sorted(found.values(), key=lambda t: -t.fake_probability))
