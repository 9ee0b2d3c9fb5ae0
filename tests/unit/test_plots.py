import warnings

from bert_tasks import plots


def test_training_curves_with_losses_and_metric(tmp_path):
    history = [{"step": 5, "loss": 0.7}, {"step": 10, "loss": 0.5}, {"step": 10, "eval_loss": 0.6, "eval_accuracy": 0.7}]
    path = plots.training_curves(history, tmp_path / "curves.png", "accuracy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary file left


def test_training_curves_have_one_legend_below_the_plot():
    import matplotlib.pyplot as plt

    history = [{"step": 5, "loss": 0.7}, {"step": 10, "loss": 0.5}, {"step": 10, "eval_loss": 0.6, "eval_accuracy": 0.7}]
    fig = plots.curves_figure(history, "accuracy")
    legends = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    assert len(legends) == 1  # before: one per axis, drawn over each other
    assert [t.get_text() for t in legends[0].get_texts()] == ["train loss", "validation loss", "validation accuracy"]
    fig.canvas.draw()
    box, plot = legends[0].get_window_extent(), fig.axes[0].get_window_extent()
    assert box.y1 <= plot.y0  # under the axes, clear of the curves
    plt.close(fig)


def test_training_curves_when_nothing_was_logged_warns_nothing(tmp_path):
    # A run shorter than train.logging_steps without evaluation logs no loss.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plots.training_curves([{"step": 2, "train_loss": 0.68}], tmp_path / "curves.png", "accuracy")
    assert path.is_file()


def test_confusion_matrix_png(tmp_path):
    path = plots.confusion_matrix([[3, 1], [0, 4]], ["negative", "positive"], tmp_path / "cm.png", "validation")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_confusion_matrix_of_many_classes_stays_a_bounded_image(tmp_path):
    # before: 0.6 inch and a count per class and cell; 151 intents took 22 s and 2.2 GiB, 500 would not fit
    import struct

    def png_size(path):
        return struct.unpack(">II", path.read_bytes()[16:24])  # IHDR width, height

    n = 300
    matrix = [[(i * 7 + j) % 5 for j in range(n)] for i in range(n)]
    width, height = png_size(plots.confusion_matrix(matrix, [f"intent_{i}" for i in range(n)], tmp_path / "big.png", "t"))
    assert width <= 2600 and height <= 2600
    small_w, small_h = png_size(plots.confusion_matrix([[3, 1], [0, 4]], ["neg", "pos"], tmp_path / "small.png", "t"))
    assert small_w < width and small_h < height


def test_label_names_the_default_font_lacks(tmp_path, caplog):
    # before: one matplotlib warning per missing character and empty boxes where Chinese names were
    from matplotlib import font_manager, ft2font

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Glyph ... missing from font(s)"
        names, font = plots.drawable_names(["positive", "negative"], "cm.png")
        assert (names, font) == (["positive", "negative"], {})
        cjk = [e for e in font_manager.fontManager.ttflist if not e.name.startswith("Last Resort")
               and ft2font.FT2Font(e.fname).get_char_index(ord("正"))]
        with caplog.at_level("WARNING", logger="bert_tasks"):
            names, font = plots.drawable_names(["正面", "negative", "负面"], "cm.png")
        if cjk:  # a CJK font installed: the names stay, written with it as the fallback
            assert names == ["正面", "negative", "负面"] and font["fontfamily"][-1] in {e.name for e in cjk}
        else:
            assert names == ["#0", "negative", "#2"] and font == {}
            assert "cm.png: no installed font can write the label names 正面, 负面" in caplog.text
        # a character DejaVu Sans lacks and STIX (shipped with matplotlib) has: STIX is the fallback
        names, font = plots.drawable_names(["a\u20d2b", "c"], "bars.png")
        assert names == ["a\u20d2b", "c"] and font["fontfamily"][-1].startswith("STIX")
        plots.bar_chart({"a\u20d2b": 0.5, "c": 0.7}, tmp_path / "bars.png", "t", "F1")
        plots.confusion_matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]], ["正面", "negative", "负面"], tmp_path / "cm.png", "t")
