"""The memory strategies: how much of a model sits on the accelerator while it runs.

One vocabulary for the whole program. The planner (:func:`sfumato.model_store.fit.plan_run`)
chooses one, the engine applies it (``inference/pipelines.py`` ``apply_strategy``) and steps down
to a leaner one after running out of memory, and the Model Manager, the first-run wizard and
``sfumato models list`` show it with the words of :data:`WORDS`. It lives outside both
``inference`` and ``model_store`` so that each can import it without importing the other
(stdlib only: importing it costs nothing).
"""

from __future__ import annotations

import enum


class MemoryStrategy(enum.IntEnum):
    """How much of the model sits on the accelerator, from fastest to leanest."""

    FULL = 0
    """Everything on the device."""
    SLICED = 1
    """Everything on the device; attention and VAE work in slices and tiles."""
    MODEL_OFFLOAD = 2
    """Each model moves to the device only while it runs."""
    SEQUENTIAL_OFFLOAD = 3
    """Each layer moves to the device only while it runs (slowest, least memory)."""

    @property
    def label(self) -> str:
        """The short words a table or a command-line listing shows (``model offload``)."""
        return WORDS[self][0]

    def describe(self) -> str:
        """A phrase for sentences and notices (``models moved to the GPU one at a time …``)."""
        return WORDS[self][1]

    @property
    def offloads(self) -> bool:
        """Whether weights wait in RAM while others run (needs RAM for all of them)."""
        return self >= MemoryStrategy.MODEL_OFFLOAD


WORDS: dict[MemoryStrategy, tuple[str, str]] = {
    MemoryStrategy.FULL: ("full", "the whole model on the GPU"),
    MemoryStrategy.SLICED: ("sliced", "attention slicing and a tiled VAE"),
    MemoryStrategy.MODEL_OFFLOAD: (
        "model offload",
        "models moved to the GPU one at a time (CPU offload)",
    ),
    MemoryStrategy.SEQUENTIAL_OFFLOAD: (
        "sequential offload",
        "layers moved to the GPU one at a time (sequential offload)",
    ),
}
"""Each strategy's short label and its phrase: the one table every display uses."""
