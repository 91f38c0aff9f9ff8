"""halfblocks: the one heat colormap (shared by the heatmap and the saliency overlay) and the half-block rows."""

from __future__ import annotations

import numpy as np

from mnist_tui.app.widgets.halfblocks import HEAT, colormap, half_blocks, heat
from mnist_tui.app.widgets.overlay import blend


def test_heat_runs_from_black_through_the_stops_to_white():
    assert np.array_equal(heat(np.array([0.0, 1 / 3, 1.0])), HEAT[[0, 1, 3]])
    assert np.array_equal(colormap(np.array([0, 255], np.uint8), "heat"), [[0, 0, 0], [255, 255, 255]])
    assert np.array_equal(colormap(np.array([7], np.uint8), "gray"), [[7, 7, 7]])


def test_the_overlay_shows_pure_heat_where_saliency_is_strong():
    saliency = np.array([[1.0, 0.8]])
    assert np.array_equal(blend(np.zeros_like(saliency), saliency), heat(saliency).astype(np.uint8))


def test_half_blocks_draw_the_top_row_over_the_bottom_one():
    top, bottom = np.array([255, 0, 255, 0], np.uint8), np.array([255, 255, 0, 0], np.uint8)
    assert [s.text for s in half_blocks(top, bottom, "gray", no_color=True)] == ["█", "▄", "▀", " "]
    segments = half_blocks(top, bottom, "gray", no_color=False, scale=2)
    assert [s.text for s in segments] == ["▀▀"] * 4
    assert (segments[1].style.color.triplet.hex, segments[1].style.bgcolor.triplet.hex) == ("#000000", "#ffffff")
