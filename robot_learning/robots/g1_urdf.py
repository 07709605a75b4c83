"""The 23-DoF Unitree G1 as a URDF, converted at run time from MuJoCo Menagerie's ``g1.xml``.

PyBullet cannot load the Menagerie MJCF directly (it ignores MJCF class defaults, so joints lose
their ranges and geoms their types). This module converts it with the PyPI package
``mjcf-urdf-simple-converter`` (``mjcf_urdf_simple_converter.convert``) and then fixes up the result.
Nothing is downloaded and nothing but this code is committed: the URDF and its meshes are written
into a cache directory (default ``runs/cache/g1_urdf/``, relative to the working directory), in a
sub-directory named after a hash of the source MJCF, the converter version and this module's
build version, so a changed model or converter gives a fresh conversion.

Steps of :func:`g1_urdf_path`:

1. ``mujoco.MjSpec`` loads ``g1.xml`` (with its class defaults resolved), deletes the six wrist
   joints (each hand is then welded to its elbow link at the wrist's zero angle, exactly as in
   :class:`~robot_learning.sim.mujoco_robot.MujocoJointRobot`), the free joint, the actuators and the
   keyframes, points ``meshdir`` at the installed STL files and saves that MJCF in the cache.
2. The converter writes a URDF whose links are the MuJoCo bodies (same names, masses, principal
   inertias and inertial frames) and an OBJ file (with its MTL) per mesh geom in ``meshes/``, which
   the URDF references by a path relative to itself, so PyBullet finds them. It only writes
   ``<visual>`` elements, puts a near-massless dummy link (0.001 kg) before every hinge joint, writes
   placeholder effort/velocity limits (100) and keeps MuJoCo's ``world`` body as the root.
3. Post-processing (here): the ``world`` link is dropped so that ``pelvis`` is the root (a free
   base in PyBullet); every dummy link is removed (valid because every G1 hinge sits at its body's
   origin, which is checked) so link frames are MuJoCo body frames and no spurious mass is added;
   effort and velocity limits come from :data:`~robot_learning.robots.g1.G1_SPEC`; duplicate visuals
   are merged; and ``<collision>`` elements are added (see below).

Collision geometry
------------------
Taken from ``g1.xml``'s collision geoms (those with non-zero contype or conaffinity), kept as they
are: mesh geoms become ``<collision>`` meshes that use the converter's OBJ files (PyBullet turns a
single-shape OBJ on a moving link into its convex hull, and MuJoCo also collides meshes through
their convex hulls, so both engines see the same shapes); the primitive geoms become URDF primitives
(the four 5 mm foot spheres per foot, the shoulder cylinders). The rubber hands, visual-only in
``g1.xml``, collide here as in the MuJoCo mesh variant (:func:`~robot_learning.robots.g1_mjcf.add_hand_collisions`). The mesh variant is used rather than
``g1_mjx.xml``'s hand-tuned capsules because it is the model :class:`MujocoJointRobot` simulates by
default. Each link's MuJoCo sliding friction is exported in :class:`G1UrdfInfo` (``link_friction``)
for the simulator to apply (URDF has no per-link friction).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from xml.dom import minidom
from xml.etree import ElementTree as ET

import mujoco
import numpy as np

from robot_learning.robots.assets import g1_model_path
from robot_learning.robots.g1 import G1_SPEC, G1_WRIST_JOINTS
from robot_learning.robots.g1_mjcf import add_hand_collisions

#: Bump when the post-processing changes, so that old cache entries are not reused.
BUILD_VERSION = "3"
DEFAULT_CACHE_DIR = Path("runs") / "cache" / "g1_urdf"
URDF_NAME = "g1_23dof.urdf"
_MJCF_NAME = "g1_23dof_source.xml"
_RAW_URDF_NAME = "g1_23dof_raw.urdf"


@dataclass(frozen=True)
class G1UrdfInfo:
    """What the conversion produced.

    Attributes:
        urdf_path: the URDF file (its meshes are in ``meshes/`` next to it).
        source_path: the Menagerie MJCF it was made from.
        link_names: URDF links (= MuJoCo bodies except ``world``), pelvis first.
        link_friction: MuJoCo sliding friction per link (the largest of its collision geoms').
        collision_exclusions: link pairs that MuJoCo never lets collide (same rigid group, e.g. a hand
            welded to its elbow link, or rigid groups that are parent and child); a simulator with
            self-collision should filter exactly these.
        joint_frictionloss: MuJoCo dry friction (N m) per hinge joint (``frictionloss``).
        joint_armature: MuJoCo armature (reflected rotor inertia, kg m^2) per hinge joint.
    """

    urdf_path: Path
    source_path: Path
    link_names: tuple[str, ...]
    link_friction: dict[str, float] = field(default_factory=dict)
    collision_exclusions: tuple[tuple[str, str], ...] = ()
    joint_frictionloss: dict[str, float] = field(default_factory=dict)
    joint_armature: dict[str, float] = field(default_factory=dict)


def _fmt(values: np.ndarray | list[float] | tuple[float, ...]) -> str:
    return " ".join(repr(float(v)) for v in values)


def _quat_wxyz_to_rpy(q: np.ndarray) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z: R = Rz(yaw) Ry(pitch) Rx(roll)) of a (w, x, y, z) quaternion."""
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, np.asarray(q, dtype=np.float64))
    r = mat.reshape(3, 3)
    pitch = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    if abs(np.cos(pitch)) > 1e-9:
        roll = np.arctan2(r[2, 1], r[2, 2])
        yaw = np.arctan2(r[1, 0], r[0, 0])
    else:  # gimbal lock: put everything in yaw
        roll = 0.0
        yaw = np.arctan2(-r[0, 1], r[1, 1])
    return np.array([roll, pitch, yaw])


def source_hash(source: Path) -> str:
    """Cache key: the source MJCF bytes, the converter version and :data:`BUILD_VERSION`."""
    import mjcf_urdf_simple_converter

    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    digest.update(str(getattr(mjcf_urdf_simple_converter, "__version__", "?")).encode())
    digest.update(f"build {BUILD_VERSION} mujoco {mujoco.__version__}".encode())
    return digest.hexdigest()[:16]


def g1_23dof_model(source: Path | None = None) -> mujoco.MjModel:
    """The MuJoCo model the URDF describes: ``g1.xml`` without the wrist joints and the free joint
    (pelvis welded to the world at its MJCF position). Useful to compare the two."""
    return _g1_23dof_spec(source or g1_model_path("mesh", scene=False)).compile()


def _g1_23dof_spec(source: Path) -> mujoco.MjSpec:
    spec = mujoco.MjSpec.from_file(str(source))
    gone = set(G1_WRIST_JOINTS)
    for actuator in list(spec.actuators):
        spec.delete(actuator)
    for joint in list(spec.joints):
        if joint.name in gone or joint.type == mujoco.mjtJoint.mjJNT_FREE:
            spec.delete(joint)
    for key in list(spec.keys):
        spec.delete(key)
    add_hand_collisions(spec)  # the rubber hands collide, as in the MuJoCo mesh variant
    spec.meshdir = str((source.parent / (spec.meshdir or ".")).resolve())
    return spec


def g1_urdf_path(cache_dir: str | Path | None = None, source: Path | None = None) -> G1UrdfInfo:
    """Convert (once per source hash) and return the 23-DoF G1 URDF; see the module docstring.

    Args:
        cache_dir: root of the cache (default ``runs/cache/g1_urdf``); the URDF goes into
            ``<cache_dir>/<hash>/g1_23dof.urdf``.
        source: the MJCF to convert (default: Menagerie ``g1.xml`` from the installed assets package).

    The directory is built under a temporary name and renamed into place, so concurrent callers
    (parallel tests, several processes) never see a half-written URDF.
    """
    source = Path(source) if source is not None else g1_model_path("mesh", scene=False)
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    target = root / source_hash(source)
    model = g1_23dof_model(source)
    info = _info(model, target / URDF_NAME, source)
    if (target / URDF_NAME).is_file():
        return info
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        _convert(source, model, work)
        try:
            os.replace(work, target)
        except OSError:  # another process finished first (target exists and is not empty)
            if not (target / URDF_NAME).is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return info


def _info(model: mujoco.MjModel, urdf: Path, source: Path) -> G1UrdfInfo:
    names = tuple(model.body(i).name for i in range(1, model.nbody))
    friction: dict[str, float] = {}
    for g in range(model.ngeom):
        if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
            continue
        body = model.body(model.geom_bodyid[g]).name
        friction[body] = max(friction.get(body, 0.0), float(model.geom_friction[g, 0]))
    joints = [model.joint(j).name for j in range(model.njnt)]
    return G1UrdfInfo(
        urdf_path=urdf,
        source_path=source,
        link_names=names,
        link_friction=friction,
        collision_exclusions=_collision_exclusions(model),
        joint_frictionloss={n: float(model.dof_frictionloss[model.jnt_dofadr[j]]) for j, n in enumerate(joints)},
        joint_armature={n: float(model.dof_armature[model.jnt_dofadr[j]]) for j, n in enumerate(joints)},
    )


def _collision_exclusions(model: mujoco.MjModel) -> tuple[tuple[str, str], ...]:
    """Body pairs MuJoCo's contact filter skips for the free-floating G1: bodies of the same rigid
    ("weld") group, and weld groups that are parent and child. The pelvis is treated as the root of
    its own group (in the free model it carries the free joint; here that joint is deleted)."""

    def weld(b: int) -> int:
        while b > 1 and model.body_jntnum[b] == 0:  # body 1 is the pelvis
            b = int(model.body_parentid[b])
        return b

    bodies = range(1, model.nbody)
    group = {b: weld(b) for b in bodies}
    parent_group = {b: (weld(int(model.body_parentid[group[b]])) if group[b] > 1 else -1) for b in bodies}
    pairs = []
    for a in bodies:
        for b in bodies:
            if b <= a:
                continue
            if group[a] == group[b] or group[a] == parent_group[b] or group[b] == parent_group[a]:
                pairs.append((model.body(a).name, model.body(b).name))
    return tuple(pairs)


def _convert(source: Path, model: mujoco.MjModel, work: Path) -> None:
    from mjcf_urdf_simple_converter import convert

    spec = _g1_23dof_spec(source)
    mjcf = work / _MJCF_NAME
    mjcf.write_text(spec.to_xml())
    raw = work / _RAW_URDF_NAME
    with warnings.catch_warnings():  # scipy's harmless "gimbal lock" notes on some inertial frames
        warnings.simplefilter("ignore", UserWarning)
        convert(str(mjcf), str(raw))
    tree = ET.parse(raw)
    _postprocess(tree.getroot(), model, work)
    text = minidom.parseString(ET.tostring(tree.getroot())).toprettyxml(indent="  ")
    text = "\n".join(line for line in text.splitlines() if line.strip())
    (work / URDF_NAME).write_text(text + "\n")


def _postprocess(robot: ET.Element, model: mujoco.MjModel, work: Path) -> None:
    """Make the converter's URDF a clean free-floating 23-DoF G1 (see the module docstring)."""
    robot.set("name", "unitree_g1_23dof")
    links = {el.get("name"): el for el in robot.findall("link")}
    joints = list(robot.findall("joint"))

    # 1. drop MuJoCo's world body and the fixed joint that tied the pelvis to it
    for joint in joints:
        if joint.find("parent").get("link") == "world":
            robot.remove(joint)
    robot.remove(links.pop("world"))

    # 2. remove the dummy "<joint>_jointbody" links: hinge -> dummy -> fixed "<joint>_offset" -> body
    #    becomes hinge -> body (valid when the hinge sits at the body origin, checked here)
    by_name = {el.get("name"): el for el in robot.findall("joint")}
    for j in range(model.njnt):
        name = model.joint(j).name
        if not np.allclose(model.jnt_pos[j], 0.0, atol=1e-12):
            raise ValueError(f"joint {name} is not at its body origin; the dummy-link removal assumes it is")
        hinge, offset = by_name[name], by_name[f"{name}_offset"]
        dummy = hinge.find("child").get("link")
        body = offset.find("child").get("link")
        hinge.find("child").set("link", body)
        robot.remove(offset)
        robot.remove(links.pop(dummy))
        # limits of the robot, not the converter's placeholders
        limit = hinge.find("limit")
        lo, hi = model.jnt_range[j]
        limit.set("lower", repr(float(lo)))
        limit.set("upper", repr(float(hi)))
        if name in G1_SPEC.joint_names:
            i = G1_SPEC.joint_names.index(name)
            limit.set("effort", repr(float(G1_SPEC.effort_limit[i])))
            limit.set("velocity", repr(float(G1_SPEC.velocity_limit[i])))

    # 3. one visual per (mesh, origin): the converter also wrote the collision meshes as visuals
    for link in links.values():
        seen: set[tuple[str | None, str | None, str | None]] = set()
        for visual in list(link.findall("visual")):
            origin = visual.find("origin")
            key = (visual.get("name"), origin.get("xyz"), origin.get("rpy"))
            if key in seen:
                link.remove(visual)
            seen.add(key)

    # 4. collision geometry from MuJoCo's collision geoms
    mesh_files = sorted(p.name for p in (work / "meshes").glob("*.obj"))
    for g in range(model.ngeom):
        if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
            continue
        link = links[model.body(model.geom_bodyid[g]).name]
        collision = ET.SubElement(link, "collision", {"name": f"collision_{g}"})
        ET.SubElement(
            collision, "origin", {"xyz": _fmt(model.geom_pos[g]), "rpy": _fmt(_quat_wxyz_to_rpy(model.geom_quat[g]))}
        )
        geometry = ET.SubElement(collision, "geometry")
        kind, size = model.geom_type[g], model.geom_size[g]
        if kind == mujoco.mjtGeom.mjGEOM_MESH:
            mesh_name = model.mesh(model.geom_dataid[g]).name.replace("/", "_").replace(" ", "_")
            candidates = [f for f in mesh_files if f.startswith(f"converted_{mesh_name}_")]
            if not candidates:
                raise ValueError(f"the converter wrote no OBJ file for mesh {mesh_name}")
            ET.SubElement(geometry, "mesh", {"filename": f"meshes/{candidates[0]}"})
        elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            ET.SubElement(geometry, "sphere", {"radius": repr(float(size[0]))})
        elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:  # MuJoCo size: radius, half-length
            ET.SubElement(geometry, "cylinder", {"radius": repr(float(size[0])), "length": repr(2 * float(size[1]))})
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            ET.SubElement(geometry, "capsule", {"radius": repr(float(size[0])), "length": repr(2 * float(size[1]))})
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:  # MuJoCo size: half-extents
            ET.SubElement(geometry, "box", {"size": _fmt(2 * size[:3])})
        else:
            raise ValueError(f"collision geom {g} has a type ({kind}) with no URDF equivalent")

    # pelvis first (the root), then the rest in MuJoCo body order
    order = {model.body(i).name: i for i in range(model.nbody)}
    link_elements = sorted(robot.findall("link"), key=lambda el: order[el.get("name")])
    joint_elements = list(robot.findall("joint"))
    for el in link_elements + joint_elements:
        robot.remove(el)
    for el in link_elements + joint_elements:
        robot.append(el)
