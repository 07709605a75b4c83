"""Camera frames on ROS 2 topics: sensor_msgs/Image and CompressedImage <-> the policy's uint8 RGB frames.

The messages' bytes are checked against rosbags in test_ros2_wire.py; here: the conversions and
their refusals, the topic names of an image policy's terms, frames written to MCAP and read back
bit-exact, a frame sent by another process over DDS on 127.0.0.1 and received bit-exact, and the
policy node with the shipped two-camera policy taking its frames from DDS topics (a missing or
stale camera holds the arm; the frames are recorded with the other topics).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from robot_learning.runtime.recorder import McapRecorder, default_typestore, read_recording
from robot_learning.runtime.ros2 import dds, msgs
from robot_learning.runtime.ros2.images import (
    ImageError,
    compressed_to_rgb,
    image_terms,
    image_to_rgb,
    image_topic,
    rgb_to_compressed,
    rgb_to_image,
)
from robot_learning.types import ObsLayout, ObsTerm

ROOT = Path(__file__).resolve().parents[1]
IMAGE_POLICY = ROOT / "assets" / "policies" / "panda_pick_place_image.onnx"


def _frame(h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _domain_id(offset: int) -> int:
    return 1 + (os.getpid() * 17 + offset) % 230


pytestmark = pytest.mark.usefixtures("dds_loopback")  # the shared loopback config (conftest.py)


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


# ------------------------------------------------------------------------------ conversions
@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_rgb_frame_to_image_and_back_is_exact_in_both_encodings(encoding: str) -> None:
    f = _frame()
    msg = rgb_to_image(f, msgs.header(1.0, "cam"), encoding)
    assert (msg.height, msg.width, msg.step, msg.encoding, len(msg.data)) == (6, 5, 15, encoding, 90)
    if encoding == "bgr8":  # the bytes on the wire are blue first
        assert msg.data[:3] == bytes(f[0, 0, ::-1])
    back = image_to_rgb(msgs.deserialize(msgs.Image, msgs.serialize(msg)), (6, 5, 3))
    assert back.dtype == np.uint8 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, f)


def test_padded_rows_and_other_data_containers_are_read() -> None:
    f = _frame(3, 2)
    rows = np.zeros((3, 8), np.uint8)  # step 8 > width 2 x 3: two padding bytes per row
    rows[:, :6] = f.reshape(3, 6)
    rows[:, 6:] = 99
    msg = msgs.Image(msgs.header(0.0), 3, 2, "rgb8", 0, 8, rows.tobytes())
    np.testing.assert_array_equal(image_to_rgb(msg), f)
    import array
    for data in (list(rows.tobytes()), rows.reshape(-1), array.array("B", rows.tobytes())):  # rosbags' ndarray, rclpy's array('B')
        msg.data = data
        np.testing.assert_array_equal(image_to_rgb(msg), f)


@pytest.mark.parametrize("change,match", [
    ({"encoding": "mono8"}, r"cam: encoding 'mono8' is not supported \(publish rgb8 or bgr8\)"),
    ({"encoding": "16UC1"}, "encoding '16UC1' is not supported"),
    ({"data": bytes(89)}, r"cam: data has 89 bytes, step 15 x height 6 = 90 expected"),
    ({"step": 14}, "step 14 is less than width 5 x 3 bytes"),
    ({"height": 0, "data": b""}, r"empty frame \(0 x 5\)"),
])
def test_bad_images_are_refused_by_name(change: dict, match: str) -> None:
    msg = rgb_to_image(_frame())
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ImageError, match=match):
        image_to_rgb(msg, name="cam")


def test_a_frame_of_another_size_than_the_policy_is_refused() -> None:
    with pytest.raises(ImageError, match=r"camera/wrist/image_raw: frame is 6 x 5 x 3, the policy expects 64 x 64 x 3"):
        image_to_rgb(rgb_to_image(_frame()), (64, 64, 3), "camera/wrist/image_raw")
    with pytest.raises(ImageError, match=r"uint8 \(height, width, 3\), got float32"):
        rgb_to_image(_frame().astype(np.float32))


def test_compressed_png_is_lossless_and_jpeg_close() -> None:
    f = _frame(16, 16)
    png = msgs.deserialize(msgs.CompressedImage, msgs.serialize(rgb_to_compressed(f, fmt="png")))
    assert png.format == "png" and png.data[:4] == b"\x89PNG"
    np.testing.assert_array_equal(compressed_to_rgb(png, (16, 16, 3)), f)
    smooth = np.repeat(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], 16, 0).repeat(3, 2)
    jpg = rgb_to_compressed(smooth, fmt="jpeg", quality=95)
    jpg.format = "rgb8; jpeg compressed bgr8"  # image_transport's format string
    assert np.abs(compressed_to_rgb(jpg).astype(int) - smooth).max() <= 8
    with pytest.raises(ImageError, match="format 'tiff' is not JPEG or PNG"):
        compressed_to_rgb(msgs.CompressedImage(format="tiff", data=png.data))
    with pytest.raises(ImageError, match="'png' data does not decode"):
        compressed_to_rgb(msgs.CompressedImage(format="png", data=b"\x89PNG broken"))


def test_compressed_frames_are_refused_in_one_line_without_pillow(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # Pillow absent (the runtime does not require it)
    with pytest.raises(ImageError, match=r"^cam: compressed frames need Pillow, which is not installed here \(pip install pillow, or publish raw"):
        compressed_to_rgb(msgs.CompressedImage(format="jpeg", data=b"\xff\xd8"), name="cam")


def test_camera_terms_and_their_topic_names() -> None:
    layout = ObsLayout((ObsTerm("tcp_pos", 3), ObsTerm("wrist_image", 48, shape=(4, 4, 3), dtype="uint8"),
                        ObsTerm("front_image", 12, shape=(2, 2, 3), dtype="uint8")))
    assert list(image_terms(layout)) == ["wrist_image", "front_image"]
    assert image_topic("wrist_image") == "camera/wrist/image_raw"
    assert image_topic("front_image", "/robot/cams/", "compressed") == "/robot/cams/front/image_raw/compressed"
    assert image_topic("front_image", "") == "front/image_raw"
    with pytest.raises(ImageError, match=r"observation term 'image' \(float32 \[3, 4, 4\]\) cannot come from a camera topic"):
        image_terms(ObsLayout((ObsTerm("image", 48, shape=(3, 4, 4), dtype="float32"),)))
    with pytest.raises(ImageError, match="not named <camera>_image"):
        image_topic("tcp_pos")


# ------------------------------------------------------------------------------ MCAP
def test_frames_written_to_mcap_read_back_bit_exact(tmp_path: Path) -> None:
    frames = [_frame(48, 64, seed=i) for i in range(5)]
    png = rgb_to_compressed(frames[0], msgs.header(9.0, "front"), "png")
    with McapRecorder(tmp_path, "cams", fsync=False) as rec:
        for i, f in enumerate(frames):
            rec.write("/camera/wrist/image_raw", "sensor_msgs/msg/Image",
                      msgs.serialize(rgb_to_image(f, msgs.header(i * 0.1, "wrist"), "bgr8" if i % 2 else "rgb8")), 1000 + i)
        rec.write("/camera/front/image_raw/compressed", "sensor_msgs/msg/CompressedImage", msgs.serialize(png), 2000)
    got = list(read_recording(tmp_path / "cams.mcap"))
    assert [g.topic for g in got] == ["/camera/wrist/image_raw"] * 5 + ["/camera/front/image_raw/compressed"]
    ts = default_typestore()
    for g, f in zip(got[:5], frames):
        np.testing.assert_array_equal(image_to_rgb(msgs.deserialize(msgs.Image, g.data), f.shape), f)
        ref = ts.deserialize_cdr(g.data, g.ros_type)  # rosbags reads the same pixels
        assert ref.encoding in ("rgb8", "bgr8") and ref.data.dtype == np.uint8
        np.testing.assert_array_equal(image_to_rgb(ref, f.shape), f)
    np.testing.assert_array_equal(compressed_to_rgb(ts.deserialize_cdr(got[5].data, got[5].ros_type)), frames[0])
    from rosbags.highlevel import AnyReader  # and rosbags' bag reader opens the file as a bag
    with AnyReader([tmp_path / "cams.mcap"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/camera/wrist/image_raw"]
        decoded = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
    np.testing.assert_array_equal(image_to_rgb(decoded[-1]), frames[-1])


# ------------------------------------------------------------------------------ DDS
PUBLISHER = r"""
import sys, time
import numpy as np
from robot_learning.runtime.ros2 import dds, msgs
from robot_learning.runtime.ros2.images import rgb_to_image
domain = int(sys.argv[1])
frame = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
with dds.DdsNode("camera_driver", domain) as node:
    pub = node.create_publisher(msgs.Image, "/camera/front/image_raw", dds.RELIABLE_QOS)
    t0 = time.monotonic()
    while time.monotonic() - t0 < float(sys.argv[2]):
        pub.publish(rgb_to_image(frame, msgs.header(time.time(), "front"), "bgr8"))
        time.sleep(0.05)
"""


def test_a_vga_frame_from_another_process_over_dds_on_loopback_arrives_bit_exact() -> None:
    domain = _domain_id(0)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(domain), "10"], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[msgs.Image] = []
    try:
        with dds.DdsNode("policy_side", domain) as node:
            node.create_subscription(msgs.Image, "/camera/front/image_raw", got.append, dds.RELIABLE_QOS)
            _wait(lambda: len(got) >= 2, 8.0, "two frames from the publisher process")
    finally:
        proc.kill()
        _, err = proc.communicate()
    assert len(got) >= 2, err[-2000:]
    expected = np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert isinstance(got[-1].data, bytes) and len(got[-1].data) == 480 * 640 * 3
    np.testing.assert_array_equal(image_to_rgb(got[-1], (480, 640, 3)), expected)


# ------------------------------------------------------------------------------ the node
def test_the_node_feeds_the_two_camera_policy_from_image_topics_holds_on_a_stale_camera_and_records_frames(tmp_path: Path) -> None:
    from robot_learning.runtime.manipulation import EndEffectorCommand
    from robot_learning.runtime.node import PolicyNode
    from robot_learning.runtime.profiles import load_node_config
    from robot_learning.runtime.ros2.backend import DdsBackend
    from robot_learning.types import RobotMode

    domain = _domain_id(1)
    cfg = load_node_config("panda", overrides={"policy": str(IMAGE_POLICY), "record_dir": str(tmp_path)})
    cfg.end_effector.soft_start_s = 0.0
    node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=domain), log=lambda s: None)
    shapes = dict(node.state.images)
    assert node.image_topics == {"wrist_image": "camera/wrist/image_raw", "front_image": "camera/front/image_raw"}
    arm = dds.DdsNode("fake_panda", domain)
    try:
        q = dds.SENSOR_QOS
        pubs = {k: arm.create_publisher(cls, f"/{k}", q) for k, cls in
                (("tcp_pose", msgs.PoseStamped), ("tcp_twist", msgs.TwistStamped), ("gripper_state", msgs.JointState))}
        cams = {term: arm.create_publisher(msgs.Image, "/" + topic, q) for term, topic in node.image_topics.items()}
        _wait(lambda: all(p.subscription_count() > 0 for p in [*pubs.values(), *cams.values()]), 5.0, "discovery of the node's subscriptions")

        def publish_state() -> None:
            h = msgs.header(time.time(), "base")
            pubs["tcp_pose"].publish(msgs.PoseStamped(h, msgs.Pose(msgs.Point(0.5, 0.0, 0.3), msgs.Quaternion(1.0, 0.0, 0.0, 0.0))))
            pubs["tcp_twist"].publish(msgs.TwistStamped(h))
            pubs["gripper_state"].publish(msgs.JointState(h, ["finger_1", "finger_2"], [0.04, 0.04], [], []))

        def publish_frames(encoding: str = "rgb8") -> None:
            for term, pub in cams.items():
                pub.publish(rgb_to_image(_frame(*shapes[term][:2], seed=3), msgs.header(time.time(), term), encoding))

        publish_state()
        _wait(lambda: node.state.received["tcp_pose"] > 0, 3.0, "the arm's state")
        ok, text = node.request("start")  # no camera frame yet: the policy's input is incomplete
        assert not ok and "the state lacks 'wrist_image'" in text, text
        publish_frames("bgr8")
        _wait(lambda: all(node.state.received[t] > 0 for t in shapes), 3.0, "both cameras' frames")
        ok, text = node.request("start")
        assert ok, text
        cmd = node.tick()
        assert isinstance(cmd, EndEffectorCommand) and not cmd.held and node.controller.mode == RobotMode.POLICY
        # the cameras stop while the arm's state keeps coming: the frames age past the limit -> hold
        time.sleep(cfg.end_effector.stale_timeout_s + 0.05)
        publish_state()
        _wait(lambda: node.state.received["tcp_pose"] >= 2, 3.0, "fresh arm state")
        held = node.tick()
        fault = node.controller.last_fault
        assert held.held and fault.monitor == "stale" and "_image is" in fault.message, node.controller.fault_log[-3:]
        assert node.controller.mode == RobotMode.DAMPING
        # a camera publishing the wrong encoding is refused by name and reported on diagnostics
        cams["wrist_image"].publish(msgs.Image(msgs.header(time.time()), 2, 2, "mono8", 0, 2, bytes(4)))
        _wait(lambda: "wrist_image" in node.state.image_refused, 3.0, "the refusal of a mono8 frame")
        diag = {kv.key: kv.value for kv in node.diagnostics_message().status[0].values}
        assert "encoding 'mono8' is not supported" in diag["wrist_image_refused"]
    finally:
        node.shutdown()
        arm.close()
    recorded = [r for r in read_recording(node.recorder.path) if r.topic.startswith("/camera/")]
    assert {r.topic for r in recorded} == {"/camera/wrist/image_raw", "/camera/front/image_raw"}
    front = [r for r in recorded if r.topic == "/camera/front/image_raw"]
    np.testing.assert_array_equal(image_to_rgb(msgs.deserialize(msgs.Image, front[0].data)), _frame(*shapes["front_image"][:2], seed=3))


def test_the_image_scene_bridge_publishes_both_cameras_rendered_frames() -> None:
    """The rehearsal's publisher side: the pick-and-place scene with the image option behind the topics."""
    from robot_learning.bridges.sim_bridge import EndEffectorSimBridge
    from robot_learning.runtime.ros2.backend import DdsBackend
    from robot_learning.tasks.hil_serl.env import PandaPickPlace
    from robot_learning.tasks.hil_serl.scene import PickPlaceConfig

    domain = _domain_id(2)
    env = PandaPickPlace(PickPlaceConfig(observation="image"))
    env.reset(10_000)
    backend = DdsBackend("sim_bridge", domain_id=domain)
    got: dict[str, list[msgs.Image]] = {"wrist": [], "front": []}
    try:
        bridge = EndEffectorSimBridge(env, backend)
        bridge.publish()  # the camera publishers are made at the first frame
        with dds.DdsNode("policy_side", domain) as node:
            for cam in got:
                node.create_subscription(msgs.Image, f"/camera/{cam}/image_raw", got[cam].append, dds.SENSOR_QOS)
            _wait(lambda: all(p.subscription_count() > 0 for p in bridge.pub_cameras.values()), 5.0, "discovery")
            expected = env.camera_frames()
            bridge.publish()
            _wait(lambda: all(got.values()), 3.0, "a frame of each camera")
    finally:
        backend.close()
        env.close()
    for cam, frames in got.items():
        assert frames[-1].header.frame_id == f"{cam}_camera" and frames[-1].encoding == "rgb8"
        np.testing.assert_array_equal(image_to_rgb(frames[-1], expected[f"{cam}_image"].shape), expected[f"{cam}_image"])


def test_compressed_transport_subscribes_image_raw_compressed_and_decodes_png_frames() -> None:
    from robot_learning.runtime.node import PolicyNode
    from robot_learning.runtime.profiles import load_node_config
    from robot_learning.runtime.ros2.backend import DdsBackend

    cfg = load_node_config("panda", overrides={"policy": str(IMAGE_POLICY)})
    cfg.topics.image_transport = "compressed"
    node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=_domain_id(3)), log=lambda s: None)
    try:
        assert node.image_topics == {"wrist_image": "camera/wrist/image_raw/compressed", "front_image": "camera/front/image_raw/compressed"}
        f = _frame(64, 64, seed=5)
        node.state.on_image("wrist_image", compressed=True)(rgb_to_compressed(f, msgs.header(time.time()), "png"))
        node.state.on_image("front_image", compressed=True)(msgs.CompressedImage(msgs.header(time.time()), "png", b"broken"))
        assert node.state.received["wrist_image"] == 1 and "'png' data does not decode" in node.state.image_refused["front_image"]
        node.state.on_ee("tcp_pose")(msgs.PoseStamped(msgs.header(time.time()), msgs.Pose()))
        np.testing.assert_array_equal(node.state.read(False)["wrist_image"], f)
    finally:
        node.shutdown()


def test_rclpy_image_data_becomes_bytes_with_a_stand_in_for_the_rclpy_message() -> None:
    """rclpy is not installed here: a plain object with rclpy's field types (uint8[] is array('B')) stands in."""
    import array
    from types import SimpleNamespace

    from robot_learning.runtime.ros2.rclpy_backend import from_ros

    f = _frame()
    ros = SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=3, nanosec=5), frame_id="wrist"), height=6, width=5,
                          encoding="bgr8", is_bigendian=0, step=15, data=array.array("B", f[:, :, ::-1].tobytes()))
    msg = from_ros(ros, msgs.Image)
    assert isinstance(msg.data, bytes) and msg.header.stamp.sec == 3
    np.testing.assert_array_equal(image_to_rgb(msg, (6, 5, 3)), f)


@pytest.mark.slow  # 26 s: the scene renders both cameras in a second process; CI keeps the fast node and bridge tests above
def test_the_shipped_image_policy_places_the_cube_from_camera_topics_over_dds() -> None:
    """The rehearsal of an image policy: the pick-and-place bridge (``--observation image``) renders and
    publishes both cameras; the policy node takes its frames from those topics only (no object pose
    enters the policy) and the bridge's own state says whether the cube ended in the bin."""
    import json

    from robot_learning.runtime.node import PolicyNode
    from robot_learning.runtime.profiles import load_node_config
    from robot_learning.runtime.ros2.backend import DdsBackend
    from robot_learning.types import RobotMode

    domain, seconds = _domain_id(4), 14.0
    bridge = subprocess.Popen([sys.executable, "-m", "robot_learning.tasks.hil_serl.bridge", "--seed", "10000", "--seconds", str(seconds + 10),
                               "--domain-id", str(domain), "--observation", "image"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = PolicyNode(load_node_config("panda", overrides={"policy": str(IMAGE_POLICY)}), DdsBackend("policy_node", domain_id=domain), log=lambda s: None)
    try:
        node.start_thread()
        _wait(lambda: min(node.state.received[k] for k in ("tcp_pose", "wrist_image", "front_image")) >= 3, 30.0, "state and both cameras from the bridge")
        ok, text = node.request("start", timeout_s=2.0)
        assert ok, text
        time.sleep(seconds)
    finally:
        node.shutdown()
        try:
            out, _ = bridge.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            bridge.kill()
            out, _ = bridge.communicate()
    c = node.controller
    assert c.mode == RobotMode.POLICY and c.summary()["policy_ticks"] > 50, c.fault_log[-5:]
    assert not node.state.image_refused
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["success"], summary
