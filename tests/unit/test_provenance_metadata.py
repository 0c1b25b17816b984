"""Generator traces in unsigned metadata (EXIF, XMP, PNG text, IPTC)."""

from __future__ import annotations

import json
import time

import pytest

from faceverdict.detectors.base import ImageMetadata
from faceverdict.detectors.metadata_traces import (
    CHUNK_RULES,
    GENERATOR_PATTERNS,
    METADATA_AI_SOURCE_TYPE,
    METADATA_FACE_EDITOR,
    METADATA_GENERATOR_TRACE,
    METADATA_PHOTO_EDITOR,
    Trace,
    find_traces,
    source_type_code,
)

GEN, AI_SOURCE = METADATA_GENERATOR_TRACE, METADATA_AI_SOURCE_TYPE
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"

A1111_PARAMETERS = (
    "portrait photo of a woman, studio light\n"
    "Negative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly"
)
COMFY_PROMPT = json.dumps(
    {
        "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 8}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
    }
)
COMFY_WORKFLOW = json.dumps(
    {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
)


def traces(**fields: object) -> tuple[Trace, ...]:
    return find_traces(ImageMetadata(**fields))  # type: ignore[arg-type]


def only(found: tuple[Trace, ...]) -> Trace:
    assert len(found) == 1, found
    return found[0]


def xmp_packet(description_attrs: str = "", body: str = "") -> str:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f"{description_attrs}>{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )


# -- Stable Diffusion UIs' PNG chunks --------------------------------------------------------


def test_a1111_parameters_chunk() -> None:
    trace = only(traces(png_text={"parameters": A1111_PARAMETERS}))
    assert (trace.reason, trace.tool, trace.where) == (
        GEN,
        "Stable Diffusion web UI",
        "png:parameters",
    )
    assert trace.fake_probability == pytest.approx(0.97)


def test_a1111_parameters_in_exif_user_comment() -> None:
    # For JPEG output AUTOMATIC1111 writes the same text to EXIF UserComment.
    trace = only(traces(exif={"UserComment": A1111_PARAMETERS}))
    assert (trace.reason, trace.where) == (GEN, "exif:UserComment")


def test_comfyui_prompt_chunk() -> None:
    found = traces(png_text={"prompt": COMFY_PROMPT})
    assert (found[0].reason, found[0].tool, found[0].where) == (GEN, "ComfyUI", "png:prompt")
    assert found[0].fake_probability == pytest.approx(0.97)
    assert {t.tool for t in found} == {"ComfyUI", "Stable Diffusion"}  # the SDXL checkpoint


def test_comfyui_workflow_chunk() -> None:
    trace = only(traces(png_text={"workflow": COMFY_WORKFLOW}))
    assert (trace.tool, trace.where) == ("ComfyUI", "png:workflow")


@pytest.mark.parametrize("key", ["invokeai_metadata", "sd-metadata", "Dream"])
def test_invokeai_chunks(key: str) -> None:
    assert only(traces(png_text={key: '{"model": "sd-1.5"}'})).tool == "InvokeAI"


def test_novelai_chunks() -> None:
    comment = json.dumps({"prompt": "a face", "steps": 28, "sampler": "k_euler", "uc": "bad"})
    assert only(traces(png_text={"Software": "NovelAI"})).where == "png:Software"
    # One trace per tool: the stronger one (the sampler settings) is kept.
    trace = only(traces(png_text={"Software": "NovelAI", "Comment": comment}))
    assert (trace.tool, trace.where, trace.fake_probability) == ("NovelAI", "png:Comment", 0.97)


def test_fooocus_chunks() -> None:
    found = traces(
        png_text={"fooocus_scheme": "fooocus", "parameters": '{"version": "Fooocus v2.5"}'}
    )
    assert {t.tool for t in found} == {"Fooocus"}


def test_ordinary_png_text_is_not_a_trace() -> None:
    assert traces(png_text={"prompt": "not json", "workflow": "[]", "Comment": "holiday"}) == ()
    assert traces(png_text={"parameters": "Steps: ten"}) == ()


# -- generator names ------------------------------------------------------------------------


def test_exif_software_adobe_firefly() -> None:
    trace = only(traces(exif={"Software": "Adobe Firefly"}))
    assert (trace.reason, trace.tool, trace.where) == (GEN, "Adobe Firefly", "exif:Software")


@pytest.mark.parametrize(
    ("fields", "tool"),
    [
        ({"exif": {"Software": "MIDJOURNEY v6"}}, "Midjourney"),
        ({"exif": {"ImageDescription": "made with midjourney"}}, "Midjourney"),
        ({"exif": {"Software": "DALL·E 3"}}, "DALL-E"),
        ({"exif": {"ImageDescription": "Created with DALL-E 2"}}, "DALL-E"),
        ({"exif": {"Artist": "Stable Diffusion XL"}}, "Stable Diffusion"),
        ({"exif": {"Software": "FLUX.1-dev"}}, "Flux"),
        ({"exif": {"HostComputer": "Flux Pro"}}, "Flux"),
        ({"exif": {"Software": "Imagen 3"}}, "Imagen"),
        ({"exif": {"Software": "Leonardo.Ai"}}, "Leonardo.Ai"),
        ({"exif": {"Software": "NightCafe Studio"}}, "NightCafe"),
        ({"exif": {"Software": "DreamStudio"}}, "DreamStudio"),
        ({"png_text": {"Description": "generated by ComfyUI"}}, "ComfyUI"),
        ({"iptc": {"OriginatingProgram": "Runway"}}, "Runway"),
        ({"exif": {"UserComment": "DeepFaceLab SAEHD"}}, "DeepFaceLab"),
    ],
)
def test_generator_names(fields: dict[str, dict[str, str]], tool: str) -> None:
    trace = only(traces(**fields))
    assert (trace.reason, trace.tool) == (GEN, tool)
    assert 0.85 <= trace.fake_probability < 1.0


def test_xmp_creator_tool_element_and_attribute() -> None:
    element = xmp_packet(body="<xmp:CreatorTool>Adobe Firefly 2.0</xmp:CreatorTool>")
    attribute = xmp_packet('xmp:CreatorTool="Midjourney"')
    assert only(traces(xmp=element)).tool == "Adobe Firefly"
    assert {t.tool for t in traces(xmp=attribute)} == {"Midjourney"}


# -- IPTC digital source type ---------------------------------------------------------------


@pytest.mark.parametrize(
    "xmp",
    [
        xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{IPTC}trainedAlgorithmicMedia"'),
        xmp_packet(
            body=f"<Iptc4xmpExt:DigitalSourceType>{IPTC}trainedAlgorithmicMedia"
            "</Iptc4xmpExt:DigitalSourceType>"
        ),
        xmp_packet(
            body=f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC}trainedAlgorithmicMedia"/>'
        ),
    ],
)
def test_xmp_digital_source_type(xmp: str) -> None:
    trace = only(traces(xmp=xmp))
    assert (trace.reason, trace.tool, trace.where) == (AI_SOURCE, "trainedAlgorithmicMedia", "xmp")
    assert trace.fake_probability == pytest.approx(0.96)


def test_source_type_bare_code_in_named_field() -> None:
    trace = only(traces(iptc={"DigitalSourceType": "compositeSynthetic"}))
    assert (trace.reason, trace.tool) == (AI_SOURCE, "compositeSynthetic")


def test_capture_source_type_in_metadata_is_no_opinion() -> None:
    # Unsigned "digitalCapture" is what a forger would write: it earns no credit.
    assert traces(xmp=xmp_packet(f'Iptc4xmpExt:DigitalSourceType="{IPTC}digitalCapture"')) == ()


def test_source_type_code() -> None:
    assert source_type_code(f"{IPTC}trainedAlgorithmicMedia") == "trainedAlgorithmicMedia"
    assert source_type_code("https://cv.iptc.org/newscodes/digitalsourcetype/DIGITALCAPTURE") == (
        "digitalCapture"
    )
    assert source_type_code("compositeSynthetic") == "compositeSynthetic"
    assert source_type_code("somethingElse") is None


# -- editors --------------------------------------------------------------------------------


@pytest.mark.parametrize("software", ["FaceApp", "Facetune2", "Facetune"])
def test_face_retouch_apps_have_their_own_reason(software: str) -> None:
    trace = only(traces(exif={"Software": software}))
    assert trace.reason == METADATA_FACE_EDITOR
    assert 0.6 < trace.fake_probability < 0.9


@pytest.mark.parametrize("software", ["Adobe Photoshop 25.0 (Windows)", "GIMP 2.10.36", "Snapseed"])
def test_photo_editors_are_a_weak_signal(software: str) -> None:
    trace = only(traces(exif={"Software": software}))
    assert trace.reason == METADATA_PHOTO_EDITOR
    assert trace.fake_probability == pytest.approx(0.6)


def test_photoshop_history_in_xmp() -> None:
    history = "".join(
        f'<rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:{i}" '
        'stEvt:softwareAgent="Adobe Photoshop 25.0 (Macintosh)"/>'
        for i in range(5)
    )
    trace = only(traces(xmp=xmp_packet(body=f"<xmpMM:History><rdf:Seq>{history}</rdf:Seq>")))
    assert (trace.reason, trace.where) == (METADATA_PHOTO_EDITOR, "xmp:software")


# -- false-positive guards ------------------------------------------------------------------


def test_benign_camera_exif_is_no_opinion() -> None:
    exif = {"Make": "Apple", "Model": "iPhone 15 Pro", "Software": "17.1", "HostComputer": "iPhone"}
    assert traces(exif=exif) == ()


@pytest.mark.parametrize(
    "fields",
    [
        {"exif": {"Software": "Influx Camera"}},  # 'flux' inside a word
        {"exif": {"Software": "Fluxion 2.1"}},
        {"exif": {"Software": "ImageNet tools"}},  # not 'Imagen'
        {"exif": {"ImageDescription": "Foto dalle vacanze"}},  # Italian 'dalle', not DALL-E
        {"exif": {"ImageDescription": "a firefly at night, flux of light"}},  # names in prose
        {"exif": {"Artist": "Leonardo Rossi"}},
        {"exif": {"ImageDescription": "a novel AI approach, mid journey home"}},
        {"exif": {"Software": "Canvas Camera"}},
        {"xmp": xmp_packet()},  # 'photoshop' only in a namespace declaration
        {"png_text": {"Software": "Apple Photos"}},
        {"iptc": {"Caption": "Passport photo"}},
    ],
)
def test_false_positive_guards(fields: dict[str, object]) -> None:
    assert traces(**fields) == ()


def test_unknown_exif_tags_are_not_searched() -> None:
    assert traces(exif={"LensModel": "Midjourney"}) == ()


# -- the tables -----------------------------------------------------------------------------


def test_pattern_tables_are_consistent() -> None:
    reasons = {GEN, METADATA_FACE_EDITOR, METADATA_PHOTO_EDITOR}
    for pattern in GENERATOR_PATTERNS:
        assert pattern.reason in reasons
        assert 0.5 < pattern.fake_probability < 1.0
        assert all(pattern.hints), pattern.tool  # every alternative has a literal prefix
    for rule in CHUNK_RULES:
        assert rule.key == rule.key.lower()
        assert 0.5 < rule.fake_probability < 1.0


def test_results_are_sorted_strongest_first() -> None:
    found = traces(exif={"Software": "Adobe Photoshop"}, png_text={"parameters": A1111_PARAMETERS})
    assert [t.fake_probability for t in found] == sorted(
        (t.fake_probability for t in found), reverse=True
    )


def test_huge_xmp_is_bounded_in_time() -> None:
    history = "".join(
        f'<rdf:li stEvt:instanceID="xmp.iid:{i:08d}" stEvt:softwareAgent="Adobe Photoshop 25.0"/>'
        for i in range(20000)
    )
    xmp = xmp_packet(body=history)
    assert len(xmp) > 1_000_000
    started = time.perf_counter()
    found = traces(xmp=xmp, exif={"ImageDescription": "x" * 1_000_000})
    assert (time.perf_counter() - started) < 0.5
    assert [t.reason for t in found] == [METADATA_PHOTO_EDITOR]
