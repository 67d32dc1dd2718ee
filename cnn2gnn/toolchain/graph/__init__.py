"""Differentiable sparse graph learning (DSGL): distances, the adaptive-neighbour closed form, anchors."""
