"""Camera frames on ROS 2 topics: ``sensor_msgs/Image`` / ``CompressedImage`` <-> uint8 (H, W, 3) RGB.

An image policy's observation holds raw camera frames as shaped terms named ``<camera>_image``,
uint8 (height, width, 3), RGB (:class:`~robot_learning.types.ObsTerm`; the HIL-SERL task's
``wrist_image`` and ``front_image``). On the robot each such term comes from one topic, named after
the camera as ``image_transport`` and the camera drivers name theirs: term ``wrist_image`` ->
``camera/wrist/image_raw`` (relative to the node's namespace; DDS topic ``rt/camera/wrist/image_raw``),
and with compressed transport ``camera/wrist/image_raw/compressed``.

Uncompressed frames need numpy only: ``rgb8`` and ``bgr8`` are taken (rows may be padded:
``step >= width * 3``); any other encoding is refused by name, as is a message whose ``data`` length
disagrees with ``step * height``. Compressed frames (JPEG, PNG) are decoded with Pillow, which the
runtime does not require: without it they are refused in one line (publish raw frames instead).

Nothing here imports torch or cyclonedds (the messages are duck-typed: the IDL dataclasses of
:mod:`.msgs`, rclpy's or rosbags' classes alike).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from robot_learning.types import ObsLayout, ObsTerm

__all__ = ["ENCODINGS", "ImageError", "compressed_to_rgb", "image_terms", "image_to_rgb", "image_topic",
           "rgb_to_compressed", "rgb_to_image"]

#: The encodings :func:`image_to_rgb` takes (8-bit, three channels).
ENCODINGS = ("rgb8", "bgr8")
IMAGE_SUFFIX = "_image"


class ImageError(ValueError):
    """A camera message that cannot become the policy's frame; the message says why, in one line."""


def _as_bytes(data: Any) -> np.ndarray:
    """The message's ``data`` as a flat uint8 array without a copy where possible (bytes, rclpy's
    ``array.array('B')``, rosbags' ndarray), else converted (a list of ints)."""
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def image_to_rgb(msg: Any, shape: tuple[int, ...] | None = None, name: str = "image") -> np.ndarray:
    """A ``sensor_msgs/Image`` as a new uint8 (height, width, 3) RGB array.

    ``shape``: the (height, width, 3) the policy expects; a frame of another size is refused (the
    runtime does not resize: a camera that disagrees with training is a configuration error).
    ``name`` names the source in errors (the topic). Raises :class:`ImageError`.
    """
    enc = str(msg.encoding)
    if enc not in ENCODINGS:
        raise ImageError(f"{name}: encoding {enc!r} is not supported (publish {' or '.join(ENCODINGS)})")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = _as_bytes(msg.data)
    if h < 1 or w < 1:
        raise ImageError(f"{name}: empty frame ({h} x {w})")
    if step < w * 3:
        raise ImageError(f"{name}: step {step} is less than width {w} x 3 bytes of {enc}")
    if data.size != step * h:
        raise ImageError(f"{name}: data has {data.size} bytes, step {step} x height {h} = {step * h} expected")
    if shape is not None and (h, w, 3) != tuple(shape):
        raise ImageError(f"{name}: frame is {h} x {w} x 3, the policy expects {' x '.join(str(n) for n in shape)}")
    rows = data.reshape(h, step)[:, : w * 3].reshape(h, w, 3)
    return np.ascontiguousarray(rows[:, :, ::-1] if enc == "bgr8" else rows)


def rgb_to_image(frame: np.ndarray, header: Any = None, encoding: str = "rgb8") -> Any:
    """A ``sensor_msgs/Image`` (the :mod:`.msgs` dataclass) of a uint8 (H, W, 3) RGB frame, packed
    rows (``step = width * 3``), in ``encoding`` (``rgb8`` or ``bgr8``: the channels are swapped)."""
    from robot_learning.runtime.ros2 import msgs  # cyclonedds: only when a message is made here

    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"a frame must be uint8 (height, width, 3), got {a.dtype} {list(a.shape)}")
    if encoding not in ENCODINGS:
        raise ImageError(f"encoding {encoding!r} is not supported (use {' or '.join(ENCODINGS)})")
    h, w, _ = a.shape
    px = a[:, :, ::-1] if encoding == "bgr8" else a
    return msgs.Image(header=header if header is not None else msgs.Header(), height=h, width=w, encoding=encoding,
                      is_bigendian=0, step=w * 3, data=np.ascontiguousarray(px).tobytes())


def _pillow(name: str) -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ImageError(f"{name}: compressed frames need Pillow, which is not installed here "
                         f"(pip install pillow, or publish raw sensor_msgs/Image)") from None
    return PILImage


def compressed_to_rgb(msg: Any, shape: tuple[int, ...] | None = None, name: str = "image") -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (JPEG or PNG) as a uint8 (height, width, 3) RGB array.

    Needs Pillow (not a runtime requirement): without it, :class:`ImageError` in one line. The
    decoded file's own colour model counts (image_transport encodes a ``bgr8`` frame as an ordinary
    colour JPEG/PNG), so ``format`` only has to name JPEG or PNG.
    """
    import io

    fmt = str(msg.format).lower()
    if "jpeg" not in fmt and "jpg" not in fmt and "png" not in fmt:
        raise ImageError(f"{name}: format {msg.format!r} is not JPEG or PNG")
    pil = _pillow(name)
    try:
        with pil.open(io.BytesIO(bytes(_as_bytes(msg.data)))) as img:
            a = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise ImageError(f"{name}: the {msg.format!r} data does not decode ({e})") from None
    if shape is not None and a.shape != tuple(shape):
        raise ImageError(f"{name}: frame is {' x '.join(str(n) for n in a.shape)}, the policy expects {' x '.join(str(n) for n in shape)}")
    return a


def rgb_to_compressed(frame: np.ndarray, header: Any = None, fmt: str = "png", quality: int = 90) -> Any:
    """A ``sensor_msgs/CompressedImage`` of a uint8 (H, W, 3) RGB frame, ``fmt`` ``png`` (lossless)
    or ``jpeg``; needs Pillow."""
    import io

    from robot_learning.runtime.ros2 import msgs

    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"a frame must be uint8 (height, width, 3), got {a.dtype} {list(a.shape)}")
    if fmt not in ("png", "jpeg"):
        raise ImageError(f"format {fmt!r} is not supported (use png or jpeg)")
    pil = _pillow("rgb_to_compressed")
    buf = io.BytesIO()
    pil.fromarray(np.ascontiguousarray(a), "RGB").save(buf, format=fmt.upper(), **({"quality": quality} if fmt == "jpeg" else {}))
    return msgs.CompressedImage(header=header if header is not None else msgs.Header(), format=fmt, data=buf.getvalue())


def image_terms(layout: ObsLayout) -> dict[str, ObsTerm]:
    """The layout's camera terms by name (``<camera>_image``, uint8 (H, W, 3)); a shaped term that is
    not one (e.g. the simulator-only ``image`` option, float32 channels first) is refused by name,
    because no camera topic can feed it."""
    out: dict[str, ObsTerm] = {}
    for t in layout.shaped_terms():
        shape = tuple(t.shape or ())
        if not (t.name.endswith(IMAGE_SUFFIX) and len(t.name) > len(IMAGE_SUFFIX) and t.dtype == "uint8"
                and len(shape) == 3 and shape[2] == 3):
            raise ImageError(f"observation term '{t.name}' ({t.dtype} {list(shape)}) cannot come from a camera topic: "
                             f"the runtime takes terms named <camera>{IMAGE_SUFFIX}, uint8 (height, width, 3)")
        out[t.name] = t
    return out


def image_topic(term: str, prefix: str = "camera", transport: str = "raw") -> str:
    """The topic of an image term: ``wrist_image`` -> ``camera/wrist/image_raw``
    (``.../image_raw/compressed`` with ``transport="compressed"``)."""
    if not term.endswith(IMAGE_SUFFIX) or len(term) <= len(IMAGE_SUFFIX):
        raise ImageError(f"observation term '{term}' is not named <camera>{IMAGE_SUFFIX}")
    if transport not in ("raw", "compressed"):
        raise ImageError(f"image transport {transport!r} is not 'raw' or 'compressed'")
    base = f"{prefix.rstrip('/')}/{term[: -len(IMAGE_SUFFIX)]}/image_raw" if prefix.strip("/") else f"{term[: -len(IMAGE_SUFFIX)]}/image_raw"
    return base + ("/compressed" if transport == "compressed" else "")
