"""View data: pages of training digits, the class distribution of each split, and an augmentation preview."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static, TabbedContent, TabPane

from mnist_tui.app.widgets.class_chart import ClassChart
from mnist_tui.app.widgets.class_counts import ClassCounts
from mnist_tui.app.widgets.digit_grid import DigitGrid
from mnist_tui.app.widgets.steady_footer import SteadyFooter

PREVIEW_COPIES = 8
PAGE_ACTIONS = {"next_page", "previous_page", "random_page"}
PREVIEW_ACTIONS = {"augment_again", "another_image"}


class DataScreen(Screen):
    TITLE = "View data"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        # The tab bar already shows 1/2/3, so the footer keeps its room for the keys of the open tab.
        Binding("1", "show_tab('samples')", "Samples", show=False),
        Binding("2", "show_tab('classes')", "Classes", show=False),
        Binding("3", "show_tab('augment')", "Augmentation", show=False),
        Binding("n,pagedown", "next_page", "Next page"),
        Binding("b,pageup", "previous_page", "Prev page"),
        Binding("g", "random_page", "Random page"),
        Binding("a", "augment_again", "Augment again"),
        Binding("i", "another_image", "Another image"),
    ]

    @dataclass
    class DataLoaded(Message):
        """The arrays are in memory: the training split's indices and the class counts of each split."""

        arrays: object  # data.MnistArrays
        train_idx: np.ndarray
        counts: dict[str, list[int]]

    @dataclass
    class DataFailed(Message):
        """The data could not be loaded; `reason` is one line the user can act on."""

        reason: str

    @dataclass
    class PreviewDrawn(Message):
        """One training image and its augmented copies, uint8 (28, 28) and (n, 28, 28)."""

        number: int
        label: int
        original: np.ndarray
        copies: np.ndarray

    def __init__(self) -> None:
        super().__init__()
        self.arrays = None
        self.train_idx: np.ndarray | None = None
        self.first = 0  # position in the training split of the first digit on the page
        self.per_page = 0
        self.preview_number: int | None = None  # position in the training split of the previewed digit
        self.rng = np.random.default_rng()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="data-error", classes="hidden", markup=False)
        with TabbedContent(id="data-tabs"):
            with TabPane("1 Samples", id="samples"):
                yield Static("Loading MNIST ...", id="page-line")
                yield DigitGrid(id="sample-grid")
            with TabPane("2 Class distribution", id="classes"):
                yield ClassChart(id="class-chart")
                yield ClassCounts(id="class-counts")
            with TabPane("3 Augmentation", id="augment"):
                yield Static("Loading MNIST ...", id="preview-line")
                yield DigitGrid(fit_all=True, id="preview-grid")
        yield SteadyFooter()

    def on_mount(self) -> None:
        self.load()

    # -------------------------------------------------- loading (threads post messages only)

    @property
    def data_dir(self):
        from mnist_tui.engine.data import default_data_dir

        return self.app.data_dir or default_data_dir()

    @work(thread=True, exclusive=True, group="data-load")
    def load(self) -> None:
        from mnist_tui.engine.data import class_counts, load_arrays
        from mnist_tui.engine.idx import DataError
        from mnist_tui.engine.splits import split_indices

        try:
            arrays = load_arrays(self.data_dir)
        except DataError as error:
            self.post_message(self.DataFailed(str(error)))
            return
        except (OSError, ValueError) as error:
            self.post_message(self.DataFailed(f"could not read the MNIST files: {error}"))
            return
        train_idx, val_idx = split_indices(len(arrays.train_labels))
        counts = {
            "train": class_counts(arrays.train_labels[train_idx]),
            "validation": class_counts(arrays.train_labels[val_idx]),
            "test": class_counts(arrays.test_labels),
        }
        self.post_message(self.DataLoaded(arrays, train_idx, counts))

    @work(thread=True, exclusive=True, group="data-preview")
    def draw_preview(self, number: int) -> None:
        import torch  # only now: the menu and the data grid never pay for it

        from mnist_tui.engine.augment import preview

        index = int(self.train_idx[number])
        original = self.arrays.train_images[index]
        copies = preview(torch.from_numpy(np.array(original)), n=PREVIEW_COPIES).numpy()
        self.post_message(self.PreviewDrawn(number, int(self.arrays.train_labels[index]), original, copies))

    def on_data_screen_data_failed(self, message: DataFailed) -> None:
        self.query_one("#data-tabs").display = False
        error = self.query_one("#data-error", Static)
        error.update(f"✘ {message.reason}\n\nPress escape to go back to the menu, where f fetches MNIST.")
        error.remove_class("hidden")
        self.refresh_bindings()

    def on_data_screen_data_loaded(self, message: DataLoaded) -> None:
        self.arrays, self.train_idx = message.arrays, message.train_idx
        self.query_one(ClassChart).counts = message.counts
        self.query_one(ClassCounts).counts = message.counts
        self.show_page()
        self.refresh_bindings()
        if self.query_one(TabbedContent).active == "augment":
            self.action_another_image()

    def on_data_screen_preview_drawn(self, message: PreviewDrawn) -> None:
        self.query_one("#preview-line", Static).update(
            f"Training image #{message.number + 1:,} (label {message.label}) and "
            f"{len(message.copies)} augmented copies:"
            " rotate ±10°, shift ±10%, scale 0.9-1.1, random erase"
        )
        samples = [(message.original, f"original {message.label}")]
        samples += [(copy, f"augmented {k}") for k, copy in enumerate(message.copies, 1)]
        self.query_one("#preview-grid", DigitGrid).samples = samples

    # -------------------------------------------------- samples

    @on(DigitGrid.Resized, "#sample-grid")
    def _grid_resized(self, message: DigitGrid.Resized) -> None:
        self.per_page = message.capacity
        self.first -= self.first % self.per_page  # keep the same digits in view, aligned to a page
        self.show_page()

    def show_page(self) -> None:
        if self.arrays is None or not self.per_page:
            return
        total = len(self.train_idx)
        numbers = range(self.first, min(self.first + self.per_page, total))
        indices = self.train_idx[numbers.start : numbers.stop]
        images, labels = self.arrays.train_images[indices], self.arrays.train_labels[indices]
        self.query_one("#sample-grid", DigitGrid).samples = [
            (image, f"#{n + 1:,} · label {label}") for n, image, label in zip(numbers, images, labels)
        ]
        page, pages = self.first // self.per_page + 1, math.ceil(total / self.per_page)
        kind = "synthetic training images" if self.arrays.synthetic else "training images"
        self.query_one("#page-line", Static).update(
            f"page {page:,}/{pages:,} · images {numbers.start + 1:,}-{numbers.stop:,} of {total:,} {kind}"
            "  [dim]n next · b previous · g random[/dim]"
        )

    def _go_to_page(self, page: int) -> None:
        if not self.per_page:
            return
        pages = math.ceil(len(self.train_idx) / self.per_page)
        self.first = (page % pages) * self.per_page
        self.show_page()

    def action_next_page(self) -> None:
        self._go_to_page(self.first // self.per_page + 1)

    def action_previous_page(self) -> None:
        self._go_to_page(self.first // self.per_page - 1)

    def action_random_page(self) -> None:
        self._go_to_page(int(self.rng.integers(math.ceil(len(self.train_idx) / max(1, self.per_page)))))

    # -------------------------------------------------- tabs and preview

    def action_show_tab(self, tab: str) -> None:
        if self.query_one("#data-tabs").display:
            self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated, "#data-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        if event.pane.id == "augment" and self.arrays is not None and self.preview_number is None:
            self.action_another_image()

    def action_augment_again(self) -> None:
        if self.preview_number is None:
            self.action_another_image()
        else:
            self.draw_preview(self.preview_number)

    def action_another_image(self) -> None:
        self.preview_number = int(self.rng.integers(len(self.train_idx)))
        self.draw_preview(self.preview_number)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Page keys show on the Samples tab and preview keys on the Augmentation tab, once the data is in."""
        if action in PAGE_ACTIONS | PREVIEW_ACTIONS:
            if self.arrays is None or not self.is_mounted:
                return False
            tab = self.query_one(TabbedContent).active
            return tab == ("samples" if action in PAGE_ACTIONS else "augment")
        return True
