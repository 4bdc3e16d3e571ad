"""A policy bundle served by ONNX Runtime: observation → normalised input → action probabilities.

One session per policy, pinned to one intra-op and one inter-op thread (as ``models/`` serves
its members): a 2-core machine shares its cores between symbols, and a network this small
answers one row in microseconds without a thread pool. The normalisation is the bundle's
(``VecNormalize`` statistics at export, or identity), applied in numpy exactly as
stable-baselines3 does at training time: the raw observation as float32, normalised in float64,
clipped, then float32 again. No torch.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from quantum_trader.agents.policy_bundle import (
    VEC_NORMALIZE,
    PolicyBundle,
    PolicyBundleError,
    PolicyManifest,
)

FloatArray = npt.NDArray[np.float64]


class OnnxPolicy:
    """A verified bundle's network, ready to answer one observation or a batch.

    ``version`` is what a decision log names: ``name@<registry version>`` when the caller knows
    it (as members are named ``xgb@3``), else ``name#<first 12 hex of the bundle address>``.
    """

    __slots__ = (
        "_buffer",
        "_high",
        "_input",
        "_low",
        "_mean",
        "_outputs",
        "_row",
        "_session",
        "_std",
        "bundle_hash",
        "manifest",
        "registry_version",
        "version",
    )

    def __init__(self, bundle: PolicyBundle, *, registry_version: int | None = None) -> None:
        manifest = bundle.manifest
        self.manifest: PolicyManifest = manifest
        self.bundle_hash = bundle.digest
        self.registry_version = registry_version  # None: not from the registry
        self.version = (
            f"{manifest.name}@{registry_version}"
            if registry_version is not None
            else f"{manifest.name}#{bundle.digest[:12]}"
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._session = ort.InferenceSession(
                bundle.onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own unexported exception types
            raise PolicyBundleError(
                f"policy bundle {bundle.digest[:16]}…: ONNX Runtime cannot load its network "
                f"({type(exc).__name__}: {exc})"
            ) from None
        self._input = manifest.input_name
        self._outputs = [manifest.probs_output]
        self._check_signature(bundle.digest)
        norm = manifest.normalisation
        self._mean: FloatArray | None = None
        self._std: FloatArray | None = None
        if norm.kind == VEC_NORMALIZE:
            self._mean = np.asarray(norm.mean, dtype=np.float64)
            self._std = np.sqrt(np.asarray(norm.var, dtype=np.float64) + norm.epsilon)
        size = manifest.observation_size
        self._low = np.full(size, -norm.clip)
        self._high = np.full(size, norm.clip)
        self._buffer = np.zeros(size)
        self._row = np.zeros((1, size), dtype=np.float32)

    def _check_signature(self, digest: str) -> None:
        """The network's input and outputs are the ones the manifest names, of its sizes."""
        m = self.manifest
        inputs = {i.name: i.shape for i in self._session.get_inputs()}
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        where = f"policy bundle {digest[:16]}…"
        if list(inputs) != [m.input_name]:
            raise PolicyBundleError(
                f"{where}: network inputs {list(inputs)}, manifest says {m.input_name!r}"
            )
        if m.probs_output not in outputs:
            raise PolicyBundleError(
                f"{where}: network has no output {m.probs_output!r} ({list(outputs)})"
            )
        width, n_out = inputs[m.input_name][-1], outputs[m.probs_output][-1]
        if width != m.observation_size or n_out != len(m.actions):
            raise PolicyBundleError(
                f"{where}: network maps {width} inputs to {n_out} outputs; the manifest says "
                f"{m.observation_size} → {len(m.actions)} actions"
            )

    @property
    def actions(self) -> tuple[str, ...]:
        return self.manifest.actions

    def _raw(self, observation: npt.ArrayLike, ndim: int) -> npt.NDArray[np.float32]:
        raw = np.asarray(observation, dtype=np.float32)
        if raw.shape[-1:] != (self.manifest.observation_size,) or raw.ndim > ndim:
            raise ValueError(
                f"{self.version}: observation of shape {raw.shape}; the policy takes "
                f"{self.manifest.observation_size} values (observation "
                f"{self.manifest.observation_version})"
            )
        return raw

    def normalise(self, observation: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The network's input for one raw observation or a batch of them (float32).

        ``np.minimum(np.maximum(x, -clip), clip)`` is ``np.clip`` value for value (NaN
        included) at a tenth of its call overhead on a small vector.
        """
        raw = self._raw(observation, 2)
        if self._mean is None or self._std is None:
            return raw
        scaled = np.minimum(np.maximum((raw - self._mean) / self._std, self._low), self._high)
        return cast(npt.NDArray[np.float32], scaled.astype(np.float32))

    def probabilities(self, observation: npt.ArrayLike) -> FloatArray:
        """Action probabilities (in :attr:`actions` order) for one raw observation.

        The one-row path of a decision: normalised into preallocated buffers (the same
        arithmetic as :meth:`normalise`), so one policy serves one caller at a time.
        """
        raw = self._raw(observation, 1)
        if self._mean is None or self._std is None:
            self._row[0] = raw
        else:
            buffer = self._buffer
            np.subtract(raw, self._mean, out=buffer)
            np.divide(buffer, self._std, out=buffer)
            np.maximum(buffer, self._low, out=buffer)
            np.minimum(buffer, self._high, out=buffer)
            self._row[0] = buffer
        out = self._session.run(self._outputs, {self._input: self._row})[0]
        return cast(FloatArray, out[0].astype(np.float64))

    def probabilities_batch(self, observations: npt.ArrayLike) -> FloatArray:
        """Action probabilities for a (n, size) batch of raw observations, one session call."""
        batch = np.ascontiguousarray(self.normalise(observations).reshape(-1, self._row.shape[1]))
        out = self._session.run(self._outputs, {self._input: batch})[0]
        return cast(FloatArray, np.asarray(out, dtype=np.float64))
