"""The Crazyflie 2.x ground side: the cflib link to our on-board RL controller, a flight with the
runtime's monitors and recorder, and a crazyswarm2-shaped ROS 2 front (see each module)."""
