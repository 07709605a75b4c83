"""Loads an exported policy: the ONNX session and the metadata contract that travels inside the file.

The ONNX file is the hand-over between training and the robot. Its metadata
(:class:`~robot_learning.types.policy.PolicyMetadata`) says everything the runtime needs; the runtime
refuses a policy whose metadata disagrees with the robot it is started on, and says which field differs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_learning.types import PolicyLoadError, PolicyMetadata, PolicyMetadataError


class PolicyRunner:
    """ONNX Runtime session of one exported policy, with its checked metadata."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(path)
        if path.is_dir():
            raise PolicyLoadError(f"policy {path} is a directory, not an exported policy file (.onnx)")
        if not path.is_file():
            raise PolicyLoadError(f"policy file not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for corrupt files
            raise PolicyLoadError(f"cannot load policy {path}: not a valid ONNX model ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.metadata = PolicyMetadata.from_props(props, source=str(path))
        self.path = path
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise PolicyMetadataError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        in_dim, out_dim = inputs[0].shape[-1], outputs[0].shape[-1]
        if isinstance(in_dim, int) and in_dim != self.metadata.observation_layout.size:
            raise PolicyMetadataError(f"{path}: metadata field 'observation_layout' has size {self.metadata.observation_layout.size} but the network takes {in_dim}")
        if isinstance(out_dim, int) and out_dim != self.metadata.action_size:
            raise PolicyMetadataError(f"{path}: metadata field 'action' has size {self.metadata.action_size} but the network outputs {out_dim}")
        self._in = np.zeros((1, self.metadata.observation_layout.size), dtype=np.float32)

    @property
    def obs_size(self) -> int:
        return self.metadata.observation_layout.size

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """One observation (obs_size,) -> one action (action_size,); a batch (B, obs_size) -> (B, action_size)."""
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim == 1:
            self._in[0] = obs
            return self.session.run([self.output_name], {self.input_name: self._in})[0][0]
        return self.session.run([self.output_name], {self.input_name: obs})[0]
