"""Sample inputs that vimo builds itself, with no licensed data: tiny synthetic SMPL / SMPL-H / SMPL-X
model files, small format-faithful fake Inter-X / Ego-Humans / Harmony4D / AMASS trees made from
vimo.synthetic motions, synthetic joint workspaces, and a LOCAL STAND-IN for Runway's API.

They serve the tests and `vimo demo`; nothing here is real data, and the stand-in is not Runway.
"""
