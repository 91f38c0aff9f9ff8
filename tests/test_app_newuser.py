"""The app as a new user finds it (issue 14): keys, the train form, Test predictions and messages, by Pilot."""

from __future__ import annotations

import re

import pytest
from screen import screen_text, wait_until

from mnist_tui.app.app import make_app


def notices(app) -> str:
    """The notifications raised so far (toasts are not part of the screenshot text)."""
    return "\n".join(n.message for n in app._notifications)


async def wait_notice(pilot, text: str, timeout: float = 30) -> None:
    await wait_until(
        pilot,
        lambda: text in notices(pilot.app),
        timeout,
        context=lambda: f" for notice {text!r}: {notices(pilot.app)!r}",
    )


def screen_name(app) -> str:
    return type(app.screen).__name__


async def wait_screen(pilot, name: str) -> None:
    await wait_until(pilot, lambda: screen_name(pilot.app) == name, 30, context=lambda: f" for {name}")


async def wait_text(pilot, text: str | re.Pattern, timeout: float = 30) -> str:
    await wait_until(
        pilot, lambda: re.search(text, screen_text(pilot.app)) is not None, timeout, context=lambda: f" for {text!r}"
    )
    return screen_text(pilot.app)


# -------------------------------------------------- keys: ? toggles help, escape closes it, q goes back


async def test_question_mark_toggles_the_keys_panel_and_escape_closes_it_first(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        await wait_screen(pilot, "DataScreen")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")))
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"))
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: bool(app.screen.query("HelpPanel")))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.screen.query("HelpPanel"))
        assert screen_name(app) == "DataScreen"  # the first escape closed the panel, not the screen
        await pilot.press("escape")
        await wait_screen(pilot, "MenuScreen")


async def test_q_goes_back_one_screen_and_quits_from_the_menu(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        for key, name in (("v", "DataScreen"), ("r", "RunsScreen"), ("t", "TrainScreen")):
            await pilot.press(key)
            await wait_screen(pilot, name)
            await pilot.press("q")
            await wait_screen(pilot, "MenuScreen")
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None)  # set by App.exit, None until then
        assert app.return_code == 0


async def test_q_types_into_an_input_instead_of_leaving(trained_runs_dir, synthetic_dir):
    app = make_app(trained_runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await wait_screen(pilot, "PredictScreen")
        await wait_text(pilot, "test ")
        await pilot.press("2")
        path = app.screen.query_one("#file-path")
        await wait_until(pilot, lambda: app.focused is path)
        await pilot.press("q", "3", "1")
        await pilot.pause(0.2)
        assert path.value == "q31"
        assert screen_name(app) == "PredictScreen"
        from textual.widgets import TabbedContent

        assert app.screen.query_one(TabbedContent).active == "file"  # digits typed, the tab stayed
        assert "shift+tab" in screen_text(app)  # the box says how to get out of it
        await pilot.press("shift+tab", "1")  # out of the box, a digit switches tabs
        await wait_until(pilot, lambda: app.screen.query_one(TabbedContent).active == "draw")
        assert path.value == "q31"


async def test_menu_shows_the_dashboard_key(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        text = await wait_text(pilot, "verified")
        assert re.search(r"\bd\b.*Dashboard", text)
        await pilot.press("d")
        await wait_screen(pilot, "DashboardScreen")


async def test_menu_footer_keeps_help_and_quit_at_80x24(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_text(pilot, "verified")
        footer = screen_text(app).splitlines()[-1]
        assert "? Help" in footer and "q Quit" in footer, footer


# -------------------------------------------------- the train form


async def open_train_form(pilot):
    await pilot.press("t")
    await wait_screen(pilot, "TrainScreen")
    return pilot.app.screen


async def test_train_images_beyond_the_split_are_refused_before_anything_starts(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir, service_factory=lambda: pytest.fail("nothing may start"))
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        form.query_one("#train_subset").value = "99999999"
        await pilot.press("ctrl+s")
        text = await wait_text(pilot, "larger than the training split")
        assert "at most 900 images" in text and type(app.screen).__name__ == "TrainScreen"
    assert not list(runs_dir.iterdir())


async def test_epochs_rejects_a_fraction(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir, service_factory=lambda: pytest.fail("nothing may start"))
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        epochs = form.query_one("#epochs")
        epochs.focus()
        await wait_until(pilot, lambda: app.focused is epochs)
        epochs.value = ""
        await pilot.press("0", ".", "5", "enter")
        text = await wait_text(pilot, "✘")
        assert "epochs must be a whole number" in text and "'0.5'" in text
        assert screen_name(app) == "TrainScreen"


async def test_fast_preset_shows_the_fraction_of_an_epoch(synthetic_dir, runs_dir):
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        form.query_one("#preset").value = "fast"
        text = await wait_text(pilot, r"0\.6 of an epoch")
        assert "fast" in text


async def test_train_form_has_train_images_words_for_augmentation_and_remembers(synthetic_dir, runs_dir, user_config):
    started = []

    class Service:
        def start(self, config):
            started.append(config)
            return f"run{len(started)}"

        def next_event(self, timeout):
            import time

            time.sleep(timeout)

        def cancel(self, run_id):
            pass

        def close(self, stop_runs=True, timeout=3.0):
            pass

    app = make_app(runs_dir, synthetic_dir, service_factory=Service)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        text = screen_text(app)
        assert "Train images" in text and "0: all 900" in text  # the synthetic split, read from its files
        assert re.search(r"Augmentation .*\boff\b", text)
        form.query_one("#augment").value = True
        await wait_text(pilot, r"Augmentation .*\bon\b")
        form.query_one("#model").value = "1-layer"
        form.query_one("#train_subset").value = "500"
        form.query_one("#epochs").value = "2"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: bool(started))
        assert started[0].train_subset == 500 and started[0].augment and started[0].epochs == 2
    assert (user_config / "train-form.json").is_file()

    app = make_app(runs_dir, synthetic_dir, service_factory=Service)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        assert form.query_one("#model").value == "1-layer"
        assert form.query_one("#train_subset").value == "500"
        assert form.query_one("#epochs").value == "2"
        assert form.query_one("#augment").value is True


async def test_a_bad_settings_file_is_ignored_with_a_notice(synthetic_dir, runs_dir, user_config):
    user_config.mkdir()
    (user_config / "train-form.json").write_text("{not json")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_train_form(pilot)
        await wait_notice(pilot, "ignored the saved train settings")
        assert form.query_one("#epochs").value == "10" or form.query_one("#epochs").value.isdigit()


# -------------------------------------------------- Test predictions and the runs folder


async def test_model_picker_lists_only_real_runs_and_names_the_saliency_method(trained_runs_dir, synthetic_dir):
    from textual.widgets import Select

    app = make_app(trained_runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await wait_screen(pilot, "PredictScreen")
        await wait_text(pilot, "test ")
        select = app.screen.query_one("#predict-select", Select)
        prompts = [str(prompt) for prompt, _ in select._options]
        assert prompts and not any("no trained runs" in p for p in prompts), prompts
        await pilot.press("3")
        text = await wait_text(pilot, r"predicted \d")
        assert "grad × input" in text


async def test_no_runs_names_the_absolute_folder_and_how_to_change_it(synthetic_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app("runs", synthetic_dir)  # relative, as a user's default is
    async with app.run_test(size=(120, 40)) as pilot:
        text = await wait_text(pilot, "Runs folder")
        assert str(tmp_path / "runs") in text and "--runs-dir" in text and "MNIST_TUI_RUNS" in text
        await pilot.press("p")
        await wait_screen(pilot, "PredictScreen")
        text = await wait_text(pilot, "No trained model")
        assert str(tmp_path / "runs") in text and "--runs-dir" in text


async def test_a_default_naming_a_deleted_run_is_reported_and_cleared(trained_runs_dir, synthetic_dir):
    (trained_runs_dir / "DEFAULT").write_text("20991231-000000_3-layer_gone\n")
    app = make_app(trained_runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("p")
        await wait_screen(pilot, "PredictScreen")
        await wait_notice(pilot, "no longer exists")
    assert not (trained_runs_dir / "DEFAULT").exists()


async def test_palette_screenshot_is_saved_and_says_where(synthetic_dir, runs_dir, tmp_path, monkeypatch):
    from mnist_tui.common import places

    monkeypatch.setattr(places, "screenshots_dir", lambda: tmp_path / "shots")
    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_text(pilot, "verified")
        app.deliver_screenshot()  # what the palette's Screenshot command runs
        await wait_until(
            pilot, lambda: any((tmp_path / "shots").glob("*.svg")) if (tmp_path / "shots").exists() else False
        )
        await wait_notice(pilot, "Saved screenshot to")
        assert str(tmp_path / "shots") in notices(app) and "Failed" not in notices(app)


# -------------------------------------------------- the Results gallery


async def test_gallery_pages_through_every_mistake_and_filters_by_digit(poor_run, synthetic_dir, runs_dir):
    from textual.widgets import Select

    app = make_app(runs_dir, synthetic_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_screen("results", str(poor_run.run_dir))
        await wait_screen(pilot, "ResultsScreen")
        from textual.widgets import TabbedContent

        def active_tab():
            found = app.screen.query(TabbedContent)
            return found.first().active if found else None

        for _ in range(100):  # a key pressed while the screen is still mounting goes nowhere: press until it takes
            if active_tab() is not None:
                await pilot.press("4")
            if active_tab() == "mistakes":
                break
            await pilot.pause(0.1)
        await wait_text(pilot, r"of 200 misclassified", 60)
        text = await wait_text(pilot, r"true \d pred \d")
        wrong = int(re.search(r"(\d+) of 200 misclassified", text).group(1))
        per_page = len(re.findall(r"true \d pred \d", text))
        assert per_page >= 14, text  # the width is filled: 7 tiles a row at 120 columns
        pages = -(-wrong // per_page)
        assert f"1-{per_page} of {wrong} shown, page 1 of {pages}" in text
        await pilot.press("n")
        text = await wait_text(pilot, f"page 2 of {pages}")
        await pilot.press("b", "b")  # back past the first page: the last one
        await wait_text(pilot, f"page {pages} of {pages}")

        gallery = app.screen.query_one("#gallery")

        def captions() -> set[tuple[str, str]]:
            return set(re.findall(r"true (\d) pred (\d)", screen_text(app)))

        true = gallery.mistakes[0].true
        expected = sum(m.true == true for m in gallery.mistakes)
        app.screen.query_one("#gallery-true", Select).value = true
        await wait_until(
            pilot,
            lambda: captions() and {t for t, _ in captions()} == {str(true)},
            context=lambda: " for the true filter",
        )
        assert f"of {expected} shown" in screen_text(app)
        pred = gallery.mistakes[0].pred
        app.screen.query_one("#gallery-pred", Select).value = pred
        await wait_until(pilot, lambda: captions() == {(str(true), str(pred))}, context=lambda: " for both filters")
