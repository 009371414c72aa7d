"""A UNet as OpenVINO computes it, called by a diffusers pipeline as it calls the torch module.

:func:`convert` traces a loaded ``UNet2DConditionModel`` (SD 1.x, 2.x, SDXL; 4- or 9-channel)
into an ``openvino.Model`` with ``openvino.convert_model``
(https://docs.openvino.ai/2026/openvino-workflow/model-preparation/convert-model-pytorch.html),
from its weights in the dtype it runs in, float32 tensors in and out. Every input's dimensions
stay dynamic (convert_model leaves them so when it is given no shapes), so one converted model
serves every size, batch (with or without classifier-free guidance) and prompt length. The
example's latent side is odd on purpose: diffusers' UNet takes another path for latents that its
upsamplers cannot halve evenly (``forward_upsample_size``: each upsampler is told its output
size), and tracing takes that path only, which computes the even sizes identically.

:class:`OpenVINOUNet` stands in the pipeline's ``unet`` slot: it is called with the torch
module's arguments and returns what it returns (``UNet2DConditionOutput`` or a tuple), in its
dtype; everything else (``config``, ``dtype``, ``device``, ``add_embedding`` …) is the torch
module's. A call with an input the model was not traced with (ControlNet residuals, attention
masks, IP-Adapter image embeddings, cross-attention arguments) is computed by the torch module.

Imported only by :mod:`sfumato.inference.openvino_backend` (it imports torch and diffusers;
OpenVINO is imported by the functions that need it).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

log = logging.getLogger(__name__)

BASE_INPUTS = ("sample", "timestep", "encoder_hidden_states")
"""The inputs every converted UNet takes; SDXL's also take ``text_embeds`` and ``time_ids``,
an LCM-distilled UNet ``timestep_cond`` (:func:`traced_inputs`)."""

_ADDED = ("text_embeds", "time_ids")
_TORCH_ONLY = (
    "class_labels",
    "attention_mask",
    "cross_attention_kwargs",
    "down_block_additional_residuals",
    "mid_block_additional_residual",
    "down_intrablock_additional_residuals",
    "encoder_attention_mask",
)
"""UNet arguments a converted model does not take: a call with any of them runs in torch."""


def traced_inputs(config: Any) -> tuple[str, ...]:
    """The inputs a UNet with ``config`` is converted with, in order."""
    names = list(BASE_INPUTS)
    if config.get("addition_embed_type") == "text_time":
        names += _ADDED
    if config.get("time_cond_proj_dim") is not None:
        names.append("timestep_cond")
    return tuple(names)


class _Traced(torch.nn.Module):
    """The UNet with named float32 tensors in and its sample out in float32, as traced."""

    def __init__(self, unet: Any) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
        time_ids: torch.Tensor | None = None,
        timestep_cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Cast to the UNet's dtype, run it, and hand back its sample in float32."""
        dtype = self.unet.dtype
        added = None
        if text_embeds is not None and time_ids is not None:
            added = {"text_embeds": text_embeds.to(dtype), "time_ids": time_ids.to(dtype)}
        out = self.unet(
            sample.to(dtype),
            timestep,
            encoder_hidden_states.to(dtype),
            timestep_cond=timestep_cond.to(dtype) if timestep_cond is not None else None,
            added_cond_kwargs=added,
            return_dict=False,
        )[0]
        return out.float()


def example_inputs(unet: Any, latent_side: int, batch: int = 2) -> dict[str, torch.Tensor]:
    """Float32 inputs of one UNet call (``batch`` 2: classifier-free guidance) on
    ``latent_side``² latents, named as :func:`traced_inputs` names them."""
    config = unet.config
    generator = torch.Generator("cpu").manual_seed(0)
    inputs = {
        "sample": torch.randn(batch, config.in_channels, latent_side, latent_side, generator=generator),
        "timestep": torch.full((batch,), 500.0),
        "encoder_hidden_states": torch.randn(batch, 77, config.cross_attention_dim, generator=generator),
    }
    names = traced_inputs(config)
    if "text_embeds" in names:
        pooled = unet.add_embedding.linear_1.in_features - 6 * config.addition_time_embed_dim
        side = float(latent_side * 8)
        inputs["text_embeds"] = torch.randn(batch, pooled, generator=generator)
        inputs["time_ids"] = torch.tensor([[side, side, 0.0, 0.0, side, side]] * batch)
    if "timestep_cond" in names:
        inputs["timestep_cond"] = torch.randn(batch, config.time_cond_proj_dim, generator=generator)
    return inputs


def convert(unet: Any, latent_side: int) -> Any:
    """``unet`` as an ``openvino.Model`` (dynamic shapes; see the module docstring), traced on
    ``latent_side`` latents made odd.

    The weights are laid out contiguously first (the engine lays them out channels-last again
    when it next places the model): OpenVINO 2026.4.1 converted a bfloat16 UNet whose
    convolution weights were channels-last into a model that computes NaNs (float32 was right).
    """
    import openvino

    side = latent_side | 1
    unet.to(memory_format=torch.contiguous_format)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer says the shape tests it meets become constants: the path above, on purpose
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return openvino.convert_model(_Traced(unet), example_input=example_inputs(unet, side))


class OpenVINOUNet:
    """A compiled OpenVINO UNet in the pipeline's ``unet`` slot (see the module docstring).

    ``unet`` is the torch module it was converted from: its attributes are this object's, and it
    computes the calls the converted model cannot take. ``compiled`` is the
    ``openvino.CompiledModel``; ``inputs`` its input names (:func:`traced_inputs`).
    """

    def __init__(self, unet: Any, compiled: Any, inputs: tuple[str, ...]) -> None:
        self.torch_module = unet
        """The torch UNet this one stands in for."""
        self._request = compiled.create_infer_request()
        self._inputs = inputs
        self._told: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        # only for names this object lacks: config, dtype, device, add_embedding, …
        module = self.__dict__.get("torch_module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """As the torch module's call."""
        return self.forward(*args, **kwargs)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        *args: Any,
        timestep_cond: torch.Tensor | None = None,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``UNet2DConditionModel.forward``: OpenVINO computes it when it can (module docstring)."""
        why = self._torch_only(args, kwargs, timestep_cond, added_cond_kwargs)
        if why:
            if why not in self._told:
                self._told.add(why)
                log.info("OpenVINO UNet: a call with %s runs in torch", why)
            return self.torch_module(
                sample,
                timestep,
                encoder_hidden_states,
                *args,
                timestep_cond=timestep_cond,
                added_cond_kwargs=added_cond_kwargs,
                return_dict=return_dict,
                **kwargs,
            )
        batch = sample.shape[0]
        steps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)
        tensors = {
            "sample": sample,
            "timestep": steps.expand(batch) if steps.numel() == 1 else steps,
            "encoder_hidden_states": encoder_hidden_states,
            **(added_cond_kwargs or {}),
        }
        if timestep_cond is not None:  # _torch_only saw that the model takes it
            tensors["timestep_cond"] = timestep_cond
        feed = {name: _array(tensors[name]) for name in self._inputs}
        out = torch.from_numpy(self._request.infer(feed)[0]).to(self.torch_module.dtype)
        return UNet2DConditionOutput(sample=out) if return_dict else (out,)

    def _torch_only(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timestep_cond: torch.Tensor | None,
        added: dict[str, torch.Tensor] | None,
    ) -> str:
        """Why the torch module must compute this call (``""``: OpenVINO can)."""
        if args:
            return "positional arguments after encoder_hidden_states"
        given = [name for name in _TORCH_ONLY if kwargs.get(name) is not None]
        if given:
            return ", ".join(given)
        unknown = set(kwargs) - set(_TORCH_ONLY)
        if unknown:
            return ", ".join(sorted(unknown))
        if (timestep_cond is not None) != ("timestep_cond" in self._inputs):
            return "timestep_cond" if timestep_cond is not None else "no timestep_cond"
        names = set((added or {}).keys())
        wanted = set(_ADDED) & set(self._inputs)
        if names != wanted:
            return f"added_cond_kwargs {sorted(names)}"
        return ""


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A float32, C-contiguous numpy array of ``tensor`` (the converted model's input type)."""
    return np.ascontiguousarray(tensor.detach().to(torch.float32).numpy())
