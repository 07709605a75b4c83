"""ROS 2 on the wire through Cyclone DDS, without a ROS install.

* :mod:`.msgs` -- ROS 2 message types as Cyclone DDS IDL structs (byte-identical to ROS 2 CDR),
  plus ``serialize``/``deserialize`` for rosbag2-style payloads.
* :mod:`.dds` -- :class:`DdsNode`, a small ROS-2-like node (publishers, subscriptions,
  ``std_srvs/Trigger`` services) on plain Cyclone DDS, and the loopback discovery configuration.

Nothing here imports torch or rclpy.
"""
from robot_learning.runtime.ros2.dds import (
                                             LATCHED_QOS,
                                             RELIABLE_QOS,
                                             SENSOR_QOS,
                                             DdsError,
                                             DdsNode,
                                             QosProfile,
                                             dds_service_topic_names,
                                             dds_topic_name,
                                             ensure_dds_config,
                                             loopback_config_uri,
                                             resolve_ros_name,
)
from robot_learning.runtime.ros2.msgs import (
                                             MESSAGE_TYPES,
                                             deserialize,
                                             header,
                                             seconds_from_time,
                                             serialize,
                                             time_from_seconds,
)

__all__ = [
                                             "LATCHED_QOS",
                                             "MESSAGE_TYPES",
                                             "RELIABLE_QOS",
                                             "SENSOR_QOS",
                                             "DdsError",
                                             "DdsNode",
                                             "QosProfile",
                                             "dds_service_topic_names",
                                             "dds_topic_name",
                                             "deserialize",
                                             "ensure_dds_config",
                                             "header",
                                             "loopback_config_uri",
                                             "resolve_ros_name",
                                             "seconds_from_time",
                                             "serialize",
                                             "time_from_seconds",
]
