"""Tiny random-weight models for tests, built at test time with the installed library versions.

Each ``build_<task>(dir)`` saves a model that loads with ``transformers.pipeline(..., model=dir)`` or
``diffusers.DiffusionPipeline.from_pretrained(dir)`` and never touches the network. Weights are random,
so outputs are gibberish: tests check types, shapes and labels, not content. Models are never committed
(tokenizers saved by one transformers major do not load in another).

``build_all(root)`` builds every model under ``root`` and returns hgbot task name -> directory;
``write_tiny_catalog(models, path)`` writes a catalog JSONL pointing at them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DISABLE_SAFETENSORS_CONVERSION", "1")

CORPUS = (
    "the quick brown fox jumps over the lazy dog . a cat sits on the mat . "
    "describe the image , transcribe the audio , generate a picture of a red car . "
    "hello world , how are you today ? i am fine , thank you . john lives in paris . "
) * 20

CHAT_TEMPLATE = (
    "{% for m in messages %}<|startoftext|>{{ m['role'] }}: {{ m['content'] }}<|endoftext|>{% endfor %}"
    "{% if add_generation_prompt %}<|startoftext|>assistant:{% endif %}"
)
VLM_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)

IMAGE_LABELS = ["cat", "dog", "car"]
DETECTION_LABELS = ["person", "cat", "car"]
TEXT_LABELS = ["NEGATIVE", "POSITIVE"]
NLI_LABELS = ["contradiction", "neutral", "entailment"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
AUDIO_LABELS = ["speech", "music", "noise"]
SEGMENT_LABELS = ["background", "sky", "road"]


def _labels(names: list[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _bpe(vocab_size: int, clip_style: bool = False) -> Any:
    """A byte-level (or CLIP-style ``</w>``) BPE trained in-process in ~0.1 s."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = ["<|endoftext|>", "<|pad|>", "<|startoftext|>"]
    if clip_style:
        tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.decoder = decoders.BPEDecoder(suffix="</w>")
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, end_of_word_suffix="</w>")
    else:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([CORPUS], trainer)
    return tok


def _causal_tokenizer(extra: dict[str, str] | None = None) -> Any:
    from transformers import PreTrainedTokenizerFast

    kwargs: dict[str, Any] = {"extra_special_tokens": extra} if extra else {}
    return PreTrainedTokenizerFast(tokenizer_object=_bpe(512), bos_token="<|startoftext|>",
                                   eos_token="<|endoftext|>", pad_token="<|pad|>", unk_token="<|endoftext|>",
                                   **kwargs)


def _bert_tokenizer() -> Any:
    """A WordPiece tokenizer with BERT's [CLS]/[SEP] post-processing, trained locally."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator([CORPUS], trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)


def _bert_config(vocab_size: int, **kw: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, **kw)


def _wav2vec2_config(**kw: Any) -> Any:
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4),
                          num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, **kw)


# --- language ---------------------------------------------------------------------------------


def build_text_generation(d: Path) -> Path:
    """Llama, 2 layers of 64-d, with a chat template (so summarization etc. run as chat prompts)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _causal_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _save_bert(d: Path, model_class: Any, **config: Any) -> Path:
    """A tiny random ``model_class`` (a BERT head) with the shared word-level tokenizer, saved to ``d``."""
    tok = _bert_tokenizer()
    model_class(_bert_config(len(tok), **config)).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def build_text_classification(d: Path) -> Path:
    from transformers import BertForSequenceClassification

    return _save_bert(d, BertForSequenceClassification, **_labels(TEXT_LABELS))


def build_zero_shot_classification(d: Path) -> Path:
    """An NLI head: the zero-shot pipeline needs a label named 'entailment'."""
    from transformers import BertForSequenceClassification

    return _save_bert(d, BertForSequenceClassification, **_labels(NLI_LABELS))


def build_token_classification(d: Path) -> Path:
    from transformers import BertForTokenClassification

    return _save_bert(d, BertForTokenClassification, **_labels(NER_LABELS))


def build_feature_extraction(d: Path) -> Path:
    """A bare BertModel: sentence-similarity mean-pools its hidden states."""
    from transformers import BertModel

    return _save_bert(d, BertModel)


# --- vision -----------------------------------------------------------------------------------


def build_image_classification(d: Path) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=64, **_labels(IMAGE_LABELS))
    ViTForImageClassification(cfg).save_pretrained(d)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(d)
    return d


def build_object_detection(d: Path) -> Path:
    """DETR with a transformers-native ResNet backbone: the defaults would need timm and a download."""
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    backbone = ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                            layer_type="basic", out_features=["stage2"])  # type: ignore[call-arg]
    # both flags default to True: timm would then download a resnet50 backbone
    no_timm: dict[str, Any] = {"use_timm_backbone": False, "use_pretrained_backbone": False}
    cfg = DetrConfig(backbone_config=backbone, **no_timm,
                     d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10,
                     **_labels(DETECTION_LABELS))
    DetrForObjectDetection(cfg).save_pretrained(d)
    DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(d)
    return d


def build_image_segmentation(d: Path) -> Path:
    """SegFormer semantic segmentation (2 tiny stages)."""
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                          patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                          decoder_hidden_size=32, **_labels(SEGMENT_LABELS))
    SegformerForSemanticSegmentation(cfg).save_pretrained(d)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(d)
    return d


def build_depth_estimation(d: Path) -> Path:
    """GLPN (SegFormer-style encoder + light decoder), 2 tiny stages."""
    from transformers import GLPNConfig, GLPNForDepthEstimation, GLPNImageProcessor

    cfg = GLPNConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
                     patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                     decoder_hidden_size=16, head_in_index=-1)
    GLPNForDepthEstimation(cfg).save_pretrained(d)
    GLPNImageProcessor(size_divisor=32).save_pretrained(d)
    return d


def build_image_text_to_text(d: Path) -> Path:
    """Tiny LLaVA (CLIP vision tower + Llama) with an <image> token and a chat template."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = _causal_tokenizer({"image_token": "<image>"})
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = VLM_CHAT_TEMPLATE
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=2)
    text = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"),  # type: ignore[call-arg]
                      vision_feature_layer=-1, vision_feature_select_strategy="default")
    LlavaForConditionalGeneration(cfg).save_pretrained(d)
    # 32x32 image, patch 8 -> 16 image tokens (CLS dropped by the 'default' strategy)
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                   tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                   num_additional_image_tokens=1, chat_template=VLM_CHAT_TEMPLATE).save_pretrained(d)
    return d


# --- audio ------------------------------------------------------------------------------------


def build_asr(d: Path) -> Path:
    """Wav2Vec2 CTC with a character vocabulary written locally; 16 kHz."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

    d.mkdir(parents=True, exist_ok=True)
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz'")}}
    (d / "vocab.json").write_text(json.dumps(vocab))
    tok = Wav2Vec2CTCTokenizer(str(d / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    Wav2Vec2ForCTC(_wav2vec2_config(vocab_size=len(vocab), pad_token_id=0)).save_pretrained(d)
    return d


def build_audio_classification(d: Path) -> Path:
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    Wav2Vec2ForSequenceClassification(_wav2vec2_config(classifier_proj_size=16, **_labels(AUDIO_LABELS))).save_pretrained(d)
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(d)
    return d


def build_tts(d: Path) -> Path:
    """VITS (the MMS-TTS architecture) with a character VitsTokenizer; 16 kHz output."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    d.mkdir(parents=True, exist_ok=True)
    chars = list(" abcdefghijklmnopqrstuvwxyz'.,?!-")
    (d / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}))
    VitsTokenizer(str(d / "vocab.json"), language=None, add_blank=True, normalize=True, phonemize=False,
                  is_uroman=False).save_pretrained(d)
    cfg = VitsConfig(vocab_size=len(chars), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=64,
                     flow_size=32, spectrogram_bins=65, upsample_initial_channel=32, upsample_rates=[8, 8, 4],
                     upsample_kernel_sizes=[16, 16, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                     prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=2,
                     posterior_encoder_num_wavenet_layers=2, duration_predictor_filter_channels=32,
                     depth_separable_num_layers=2, sampling_rate=16000)
    VitsModel(cfg).save_pretrained(d)
    return d


# --- diffusion --------------------------------------------------------------------------------


def _clip_text(vocab_size: int = 1000) -> tuple[Any, Any]:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizerFast  # type: ignore[attr-defined]

    tok = CLIPTokenizerFast(tokenizer_object=_bpe(vocab_size, clip_style=True), bos_token="<|startoftext|>",
                            eos_token="<|endoftext|>", unk_token="<|endoftext|>", pad_token="<|endoftext|>",
                            model_max_length=77)
    enc = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                       num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
                                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                       pad_token_id=tok.pad_token_id))
    return tok, enc


def _vae() -> Any:
    from diffusers import AutoencoderKL

    # 2 blocks: the VAE downsamples by 2, so a 32x32 image has 16x16 latents
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(32, 64),
                         layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=32, sample_size=16)


def _ddim() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def build_text_to_image(d: Path) -> Path:
    """A StableDiffusionPipeline of tiny parts; also loads as image-to-image (AutoPipelineForImage2Image)."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    tok, text_encoder = _clip_text()
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, norm_num_groups=32)
    pipe = StableDiffusionPipeline(unet=unet, vae=_vae(), text_encoder=text_encoder, tokenizer=tok, scheduler=_ddim(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(d)  # type: ignore[attr-defined]
    return d


def build_controlnet(d: Path, sd_dir: Path) -> Path:
    """A ControlNetModel shaped like the UNet saved in ``sd_dir`` (a built text-to-image model)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sd_dir, subfolder="unet")
    # the conditioning embedding downsamples the control image by 8 with the default channels
    ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32)).save_pretrained(d)
    return d


def build_text_to_video(d: Path) -> Path:
    """A TextToVideoSDPipeline with a tiny UNet3DConditionModel."""
    import torch
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    torch.manual_seed(0)
    tok, text_encoder = _clip_text()
    unet = UNet3DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                                up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=32)
    TextToVideoSDPipeline(unet=unet, vae=_vae(), text_encoder=text_encoder, tokenizer=tok,
                          scheduler=_ddim()).save_pretrained(d)  # type: ignore[attr-defined]
    return d


# --- all --------------------------------------------------------------------------------------

BUILDERS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    # hgbot task -> (directory name, builder)
    "text-generation": ("tiny-llama", build_text_generation),
    "text-classification": ("tiny-bert-cls", build_text_classification),
    "zero-shot-classification": ("tiny-bert-nli", build_zero_shot_classification),
    "token-classification": ("tiny-bert-ner", build_token_classification),
    "sentence-similarity": ("tiny-bert", build_feature_extraction),
    "image-classification": ("tiny-vit", build_image_classification),
    "object-detection": ("tiny-detr", build_object_detection),
    "image-segmentation": ("tiny-segformer", build_image_segmentation),
    "depth-estimation": ("tiny-glpn", build_depth_estimation),
    "image-to-text": ("tiny-llava", build_image_text_to_text),
    "automatic-speech-recognition": ("tiny-wav2vec2", build_asr),
    "audio-classification": ("tiny-wav2vec2-cls", build_audio_classification),
    "text-to-speech": ("tiny-vits", build_tts),
    "text-to-image": ("tiny-sd", build_text_to_image),
    "text-to-video": ("tiny-t2v", build_text_to_video),
}

# Tasks served by another task's model directory.
SHARED: dict[str, str] = {
    "summarization": "text-generation",
    "translation": "text-generation",
    "conversational": "text-generation",
    "question-answering": "text-generation",
    "text2text-generation": "text-generation",
    "visual-question-answering": "image-to-text",
    "document-question-answering": "image-to-text",
    "image-to-image": "text-to-image",
    "canny-text-to-image": "text-to-image",
}


def build_all(root: Path, only: list[str] | None = None) -> dict[str, Path]:
    """Build the tiny models under ``root`` (skipping directories already there); task -> directory.

    ``only`` restricts to those tasks (``SHARED`` tasks pull in their source model). The ControlNet
    weights go to ``root/tiny-controlnet`` and are returned under the key ``"controlnet"``.
    """
    root = Path(root)
    wanted = set(only) if only is not None else set(BUILDERS) | set(SHARED) | {"controlnet"}
    needed = {SHARED.get(t, t) for t in wanted if t != "controlnet"}
    if "controlnet" in wanted or "canny-text-to-image" in wanted:
        needed.add("text-to-image")
    out: dict[str, Path] = {}
    for task, (name, build) in BUILDERS.items():
        if task not in needed:
            continue
        d = root / name
        if not (d / "config.json").exists() and not (d / "model_index.json").exists():
            build(d)
        out[task] = d
    if "controlnet" in wanted or "canny-text-to-image" in wanted:
        d = root / "tiny-controlnet"
        if not (d / "config.json").exists():
            build_controlnet(d, out["text-to-image"])
        out["controlnet"] = d
    for task, source in SHARED.items():
        if task in wanted and source in out:
            out[task] = out[source]
    return out


_BACKENDS = {"text-to-image": "diffusers", "image-to-image": "diffusers", "text-to-video": "diffusers",
             "canny-text-to-image": "diffusers"}
_CARD_OPTIONS: dict[str, dict[str, Any]] = {
    "text-to-image": {"steps": 2, "height": 32, "width": 32, "seed": 0},
    "image-to-image": {"steps": 2, "height": 32, "width": 32, "seed": 0, "strength": 0.5},
    "text-to-video": {"steps": 2, "height": 32, "width": 32, "num_frames": 4, "seed": 0},
    "canny-text-to-image": {"steps": 2, "height": 32, "width": 32, "seed": 0},
    "text-generation": {"max_new_tokens": 8},
    "image-to-text": {"max_new_tokens": 8},
}


def write_tiny_catalog(models: dict[str, Path], path: Path) -> Path:
    """Write a catalog JSONL with one card per task in ``models`` (as returned by ``build_all``).

    Ids are ``tiny/<dir name>``; ``size`` is the bytes on disk. The ControlNet entry becomes the
    ``controlnet`` option of ``canny-text-to-image``; every text task served by the tiny Llama gets
    ``max_new_tokens: 8`` so generation stays fast.
    """
    lines = []
    for task, d in models.items():
        if task == "controlnet":
            continue
        options = dict(_CARD_OPTIONS.get(task, _CARD_OPTIONS.get(SHARED.get(task, ""), {})))
        if task == "canny-text-to-image" and "controlnet" in models:
            options["controlnet"] = str(models["controlnet"])
        size = sum(f.stat().st_size for f in Path(d).rglob("*") if f.is_file())
        card = {"id": f"tiny/{Path(d).name}", "task": task, "backend": _BACKENDS.get(task, "transformers"),
                "path": str(d), "size": size, "description": f"tiny random {task} model for tests",
                "license": "mit", "options": options}
        lines.append(json.dumps(card))
    path = Path(path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


__all__ = ["BUILDERS", "SHARED", "build_all", "write_tiny_catalog"] + [n for n in dir() if n.startswith("build_")]
