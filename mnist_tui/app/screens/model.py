"""Model: a run's layers (shapes, parameters, MACs, memory), its first conv's filters, and live feature maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from mnist_tui.app.widgets.canvas import DigitCanvas
from mnist_tui.app.widgets.layer_table import LayerTable
from mnist_tui.app.widgets.steady_footer import SteadyFooter
from mnist_tui.app.widgets.tile_grid import TileGrid
from mnist_tui.runfolder import runs
from mnist_tui.runfolder.record import RunError

FILTER_TILE = 6  # a 3x3 kernel drawn at 2x2 pixels per weight: 6 cells wide, 3 tall
MAP_TILE = 14  # each feature map resized to 14x14 pixels: 14 cells wide, 7 tall
FALLBACK_MODEL = "3-layer"  # shown untrained when there is no run to show
DRAWN = "the digit drawn"


@dataclass(frozen=True)
class ConvMaps:
    """A conv layer's feature maps as display tiles."""

    name: str
    tiles: list[np.ndarray]
    shape: tuple[int, ...]


class ModelScreen(Screen):
    TITLE = "Model"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "show_tab('layers')", "Layers", show=False),
        Binding("2", "show_tab('maps')", "Feature maps", show=False),
        # Short words, and the reverse keys hidden (the hint names them), so the keys fit an 80-column footer.
        Binding("right_square_bracket", "layer(1)", "Layer", key_display="]", tooltip="Next conv layer"),
        Binding("left_square_bracket", "layer(-1)", "Prev layer", key_display="[", show=False),
        Binding("full_stop,pagedown", "page(1)", "Page", key_display=".", tooltip="More channels"),
        Binding("comma,pageup", "page(-1)", "Prev channels", key_display=",", show=False),
    ]

    @dataclass
    class Loaded(Message):
        run: object  # inference.RunModel
        title: str
        table: list
        batch_label: str
        filters: tuple | None  # (layer name, tiles, kernel shape) or None for a model without convs
        image: np.ndarray
        source: str  # where the image came from: "the digit drawn" or "test image #N"
        note: str

    @dataclass
    class MapsReady(Message):
        conv_maps: list[ConvMaps]
        source: str  # what the maps were computed for

    @dataclass
    class LoadFailed(Message):
        reason: str

    def __init__(self, run_dir: str | Path | None = None, image: np.ndarray | None = None) -> None:
        """`run_dir` None: the default run (or an untrained model when there is none). `image`: the digit whose
        feature maps are shown first (uint8, or float in [0, 1]); None: the first test digit. The maps' title
        names a uint8 image that is a test image by its number, anything else as the digit drawn."""
        super().__init__()
        self.run_dir = Path(run_dir) if run_dir else None
        self.image = image
        self.run = None
        self.conv_maps: list[ConvMaps] = []
        self.conv_index = 0
        self.source = DRAWN  # what the canvas showed when it was loaded
        self.loaded_pixels: np.ndarray | None = None  # the canvas as loaded: while it is unchanged, `source` holds
        self.maps_source = DRAWN

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading the model ...", id="model-info")
        with TabbedContent(id="model-tabs", initial="layers"):
            with TabPane("1 Layers", id="layers"):
                yield LayerTable(id="layer-table")
                yield Static(
                    "MACs: multiply-accumulates per image (conv, linear). act: new memory a layer's output takes "
                    "in fp32 inference, measured by hooks, per image and ×N for a batch of the run's batch size.",
                    id="layer-note",
                )
            with TabPane("2 Filters and feature maps", id="maps"):
                with Horizontal(id="model-body"):
                    with Vertical(id="model-left"):
                        yield DigitCanvas(id="model-canvas")
                        yield Static(
                            "draw here: the maps follow\ndrag paints, right-drag erases\nfilters: + white, - black\n"
                            "c clears\n[ and ] change the layer\n, and . page the channels",
                            id="model-hint",
                            markup=False,
                        )
                    with Vertical(id="model-right"):
                        yield TileGrid(cmap="gray", captioned=False, paged=False, id="model-filters")
                        yield TileGrid(cmap="gray", id="model-maps")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.load(self.run_dir, self.image, self.app.data_dir)

    # -------------------------------------------------- work (off the UI thread; posts messages only)

    @work(thread=True, exclusive=True, group="model-load")
    def load(self, run_dir: Path | None, image: np.ndarray | None, data_dir) -> None:
        try:
            self.post_message(self._load(run_dir, image, data_dir))
        except RunError as error:
            self.post_message(self.LoadFailed(str(error)))
        except Exception as error:  # noqa: BLE001 - one line on the screen, not a crash
            self.post_message(self.LoadFailed(f"{type(error).__name__}: {error}"))

    def _load(self, run_dir: Path | None, image: np.ndarray | None, data_dir) -> Loaded:
        from mnist_tui.analysis import inspect as insp  # imports torch: here, never on the UI thread
        from mnist_tui.engine.config import make_config
        from mnist_tui.engine.models import build_model
        from mnist_tui.training.inference import as_run, load_run

        if run_dir is None:
            default = runs.default_run(self.app.runs_dir)
            run_dir = default.path if default else None
        if run_dir is not None:
            run = load_run(run_dir)
            folder = Path(run_dir).name
            title, note = (folder if run.name in folder else f"{run.name}  {folder}"), ""
            batch = int(run.checkpoint.get("config", {}).get("batch_size") or make_config(run.name).batch_size)
        else:
            run = as_run(build_model(FALLBACK_MODEL).eval())
            title = f"{FALLBACK_MODEL} (untrained)"
            note = f"No trained run in {self.app.runs_dir} yet: these are a fresh {FALLBACK_MODEL}'s random weights."
            batch = make_config(FALLBACK_MODEL).batch_size
        name = run.name if run_dir is not None else FALLBACK_MODEL
        inspection = insp.inspect_model(run.model, name, batch)
        first = insp.first_conv_filters(run.model)
        filters = None
        if first:
            layer, kernels = first
            filters = (
                layer,
                insp.to_tiles(kernels, FILTER_TILE * (kernels.shape[-1] // 3 or 1), symmetric=True),
                kernels.shape,
            )
        image, source = self._start_image(data_dir or run.checkpoint.get("config", {}).get("data_dir") or None, image)
        title += f"  {inspection.total_params:,} params  {inspection.total_macs:,} MACs/image"
        rows = insp.table_rows(inspection)
        return self.Loaded(run, title, rows, f"act ×{batch}", filters, image, source, note)

    @staticmethod
    def _start_image(data_dir, image: np.ndarray | None) -> tuple[np.ndarray, str]:
        """The image to start from and where it came from: the test image it is (the first one when `image` is
        None), or else the digit drawn."""
        from mnist_tui.engine.data import default_data_dir, load_arrays
        from mnist_tui.engine.idx import DataError

        if image is not None and image.dtype != np.uint8:
            return image, DRAWN  # a drawing (floats): no test image is stored that way
        try:
            test_images = load_arrays(data_dir or default_data_dir()).test_images
        except (DataError, OSError, ValueError):
            test_images = np.zeros((0, 28, 28), np.uint8)
        if image is None:
            if not len(test_images):
                return np.zeros((28, 28), np.uint8), DRAWN  # no test set: the canvas starts blank
            return test_images[0], "test image #1"
        if image.shape == test_images.shape[1:]:
            same = np.flatnonzero((test_images == image).all(axis=(1, 2)))
            if len(same):
                return image, f"test image #{int(same[0]) + 1:,}"
        return image, DRAWN

    @work(thread=True, exclusive=True, group="model-maps")
    def compute_maps(self, run, pixels: np.ndarray, source: str) -> None:
        from mnist_tui.analysis import inspect as insp
        from mnist_tui.analysis.preprocess import BlankImage, preprocess

        try:
            image = preprocess(pixels, invert=False)  # what Test predictions feeds the model
        except BlankImage:
            image = np.zeros((28, 28), np.uint8)
        except Exception:  # noqa: BLE001 - a drawing that preprocess cannot read is shown as it is
            image = pixels
        maps = insp.feature_maps(run.model, image, run.recipe.normalization)
        layers = [ConvMaps(name, insp.to_tiles(values, MAP_TILE), values.shape) for name, values in maps]
        from textual.worker import get_current_worker

        if not get_current_worker().is_cancelled:
            self.post_message(self.MapsReady(layers, source))

    # -------------------------------------------------- messages

    def on_model_screen_loaded(self, message: Loaded) -> None:
        self.run = message.run
        info = Text(message.title)
        if message.note:
            info.append("\n" + message.note, style="italic")
        self.query_one("#model-info", Static).update(info)
        self.query_one(LayerTable).show(message.table, message.batch_label)
        grid = self.query_one("#model-filters", TileGrid)
        if message.filters:
            layer, tiles, shape = message.filters
            grid.show(
                tiles,
                [],
                f"{layer}: {shape[0]} learned {shape[1]}x{shape[2]} filters",
            )
        else:
            grid.display = False
        canvas = self.query_one(DigitCanvas)
        canvas.load(message.image)
        self.source, self.loaded_pixels = message.source, canvas.pixels.copy()
        self.action_show_tab(self.query_one(TabbedContent).active)  # load() posts Changed: the maps follow

    def on_model_screen_maps_ready(self, message: MapsReady) -> None:
        self.conv_maps = message.conv_maps
        self.maps_source = message.source
        self.conv_index = min(self.conv_index, max(len(self.conv_maps) - 1, 0))
        self._show_layer(keep_page=True)

    def on_model_screen_load_failed(self, message: LoadFailed) -> None:
        self.query_one("#model-info", Static).update(Text(f"Could not load the model: {message.reason}"))

    def on_digit_canvas_changed(self, message: DigitCanvas.Changed) -> None:
        if self.run is not None:
            unchanged = self.loaded_pixels is not None and np.array_equal(message.pixels, self.loaded_pixels)
            self.compute_maps(self.run, message.pixels, self.source if unchanged else DRAWN)

    # -------------------------------------------------- rendering and actions

    def _show_layer(self, keep_page: bool = False) -> None:
        grid = self.query_one("#model-maps", TileGrid)
        if not self.conv_maps:
            grid.show([], [], "this model has no conv layers")
            return
        layer = self.conv_maps[self.conv_index]
        channels, h, w = layer.shape
        title = f"conv {self.conv_index + 1}/{len(self.conv_maps)} {layer.name}: {channels} maps of {h}x{w} for "
        title += self.maps_source
        grid.show(layer.tiles, [f"ch {i + 1}" for i in range(channels)], title, keep_page)

    def action_layer(self, step: int) -> None:
        if self.conv_maps:
            self.conv_index = (self.conv_index + step) % len(self.conv_maps)
            self._show_layer()
            self.query_one(TabbedContent).active = "maps"

    def action_page(self, step: int) -> None:
        grid = self.query_one("#model-maps", TileGrid)
        grid.page = (grid.page + step) % grid.pages

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "layers":
            self.query_one(LayerTable).focus()
        else:
            self.query_one(DigitCanvas).focus()
