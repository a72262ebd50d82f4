"""The packaged hub catalog (``orchestrator/data/catalog.jsonl``): facts every card must carry."""

from __future__ import annotations

import pytest

from orchestrator.backends.transformers_backend import CHAT_TASKS, VISION_TEXT_TASKS
from orchestrator.catalog import Catalog, ModelCard
from orchestrator.tasks import CONTROL_KINDS
from orchestrator.twin_builders import ARCH_BUILDERS
from orchestrator.twins import needs_twin

HUB = Catalog.load()
HUB_CARDS = [c for c in HUB.cards if needs_twin(c)]
CAUSAL_LMS = {"Qwen3ForCausalLM", "Qwen2ForCausalLM", "LlamaForCausalLM"}


def test_every_hub_card_names_an_architecture_with_a_twin() -> None:
    missing = [(c.id, c.task, c.arch) for c in HUB_CARDS if c.arch not in ARCH_BUILDERS]
    assert not missing


def test_cards_carry_a_lower_case_licence_a_size_and_a_profile() -> None:
    for card in HUB.cards:
        assert card.license and card.license == card.license.lower(), card
        assert card.profile in ("cpu", "gpu"), card
        if needs_twin(card):
            assert card.size > 0, card


def test_chat_tasks_only_on_chat_models() -> None:
    """transformers 5 removed summarization/translation/QA pipelines: a non-chat model there always fails."""
    for card in HUB_CARDS:
        if card.backend == "transformers" and card.task in CHAT_TASKS:
            assert card.arch in CAUSAL_LMS, card
        if card.backend == "transformers" and card.task in VISION_TEXT_TASKS - {"image-to-text"}:
            assert card.options.get("pipeline") == "image-text-to-text", card


@pytest.mark.parametrize(("model_id", "dtype", "variant"), [
    ("black-forest-labs/FLUX.1-schnell", "bfloat16", ""),
    ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "bfloat16", ""),
    ("stabilityai/sdxl-turbo", "", "fp16"),
    ("Qwen/Qwen3-4B-Instruct-2507", "bfloat16", ""),
])
def test_published_precision_and_variant(model_id: str, dtype: str, variant: str) -> None:
    cards = [c for c in HUB.cards if c.id == model_id]
    assert cards
    assert {(c.dtype, c.variant) for c in cards} == {(dtype, variant)}


def test_wan_decodes_with_an_fp32_vae() -> None:
    card = HUB.get("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    assert card is not None and card.options["vae_dtype"] == "float32"


@pytest.mark.parametrize("model_id", ["stabilityai/sdxl-turbo", "stabilityai/sd-turbo", "facebook/mms-tts-eng",
                                      "nvidia/segformer-b0-finetuned-ade-512-512"])
def test_non_commercial_models_are_marked(model_id: str) -> None:
    card = HUB.get(model_id)
    assert card is not None and card.noncommercial


def test_fixed_licences() -> None:
    assert HUB.get("openai/whisper-large-v3").license == "apache-2.0"  # type: ignore[union-attr]
    assert HUB.get("openai/whisper-tiny.en").license == "apache-2.0"  # type: ignore[union-attr]
    assert HUB.get("black-forest-labs/FLUX.1-schnell", "image-to-image") is not None
    assert HUB.get("stabilityai/sdxl-turbo", "image-to-image") is None  # non-commercial: not the img2img default


def test_gone_cards() -> None:
    gone = {"deepset/roberta-base-squad2", "facebook/bart-large-cnn", "facebook/m2m100_418M",
            "JorisCos/DCCRNet_Libri1Mix_enhsingle_16k", "damo-vilab/text-to-video-ms-1.7b",
            "Qwen/Qwen2.5-VL-3B-Instruct"}
    assert not gone & {c.id for c in HUB.cards}
    assert [c.backend for c in HUB.for_task("audio-to-audio")] == ["noisereduce"]


def test_every_control_kind_has_a_text_to_image_card_with_its_controlnet() -> None:
    for kind in CONTROL_KINDS:
        cards = HUB.for_task(f"{kind}-text-to-image")
        assert cards and all(kind in c.options["controlnet"] or (kind == "hed" and "softedge" in c.options["controlnet"])
                             for c in cards)


@pytest.mark.parametrize("task", ["text-generation", "summarization", "image-to-text", "object-detection",
                                  "text-to-image", "automatic-speech-recognition"])
def test_a_cpu_profile_card_for_the_common_tasks(task: str) -> None:
    assert any(c.profile == "cpu" for c in HUB.for_task(task))


def test_noncommercial_is_derived_from_the_licence_too() -> None:
    assert ModelCard(id="x", task="text-to-image", backend="diffusers", license="CC-BY-NC-4.0").noncommercial
    assert not ModelCard(id="x", task="text-to-image", backend="diffusers", license="apache-2.0").noncommercial


def test_every_control_map_has_a_card() -> None:
    for kind in CONTROL_KINDS:
        assert HUB.for_task(f"{kind}-control"), kind


def test_annotator_cards_download_one_file_each_under_the_repository_licence() -> None:
    cards = [c for c in HUB.cards if c.id == "lllyasviel/Annotators"]
    assert {c.task for c in cards} == {"hed-control", "mlsd-control", "openpose-control", "scribble-control"}
    for card in cards:
        assert card.backend == "controlnet-aux" and card.license == "other" and card.options["file"].endswith(".pth")
    # CMU's OpenPose body weights are for non-commercial use (controlnet_aux/open_pose/__init__.py says so)
    assert [c.task for c in cards if c.noncommercial] == ["openpose-control"]
