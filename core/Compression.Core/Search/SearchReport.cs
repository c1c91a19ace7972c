using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Compression.Core.Evaluation;
using Compression.Core.Recipes.Search;
using Compression.Core.Reports;

namespace Compression.Core.Search;

/// <summary>
/// The search's report: JSON for scripts, and an HTML page with the Pareto front drawn as an SVG picture (the first
/// quality metric against size, the front joined, the chosen point marked, the constraint drawn) above the table of
/// every trial. People would rather look at a front than read it.
/// </summary>
public static class SearchReport
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Write(SearchResult result)
    {
        if (result.ReportPath is { } json)
        {
            Save(json, Json(result).ToJsonString(Indented) + "\n");
        }

        if (result.PlotPath is { } html)
        {
            Save(html, Html(result));
        }
    }

    public static JsonObject Json(SearchResult result) => new()
    {
        ["tool"] = "Compression",
        ["version"] = ReportWriter.ToolVersion,
        ["input"] = result.InputPath,
        ["output"] = result.OutputPath,
        ["summary"] = result.Summary,
        ["stop_reason"] = result.StopReason,
        ["objectives"] = new JsonArray(result.Objectives.Select(o => (JsonNode)o.ToString()).ToArray()),
        ["constraints"] = new JsonArray(result.Constraints.Select(c => (JsonNode)c.Text).ToArray()),
        ["baseline"] = Numbers(result.Baseline),
        ["chosen"] = result.Chosen is null ? null : TrialJson(result.Chosen),
        ["closest"] = result.Closest is null ? null : TrialJson(result.Closest),
        ["front"] = new JsonArray(result.Front.Select(t => (JsonNode)t.Number).ToArray()),
        ["final"] = result.Final is not { } final ? null : new JsonObject
        {
            ["output_size"] = final.OutputSizeBytes,
            ["data"] = final.Evaluation?.DataSet,
            ["before"] = final.Evaluation is null ? null : JsonSerializer.SerializeToNode(final.Evaluation.Reference.Task),
            ["after"] = final.Evaluation?.Candidate is null ? null : JsonSerializer.SerializeToNode(final.Evaluation.Candidate.Task),
            ["gates"] = JsonSerializer.SerializeToNode(final.Gates),
            ["report"] = final.ReportPath,
        },
        ["journal"] = result.JournalPath,
        ["evaluated"] = result.Evaluated,
        ["resumed"] = result.Resumed,
        ["trials"] = new JsonArray(result.Trials.Select(t => (JsonNode)TrialJson(t)).ToArray()),
    };

    private static JsonObject TrialJson(Trial trial) => new()
    {
        ["trial"] = trial.Number,
        ["values"] = new JsonObject(trial.Values.Select(v => KeyValuePair.Create(v.Key, (JsonNode?)JsonValue.Create(v.Value)))),
        ["metrics"] = Numbers(trial.Metrics),
        ["feasible"] = trial.Feasible,
        ["on_front"] = trial.OnFront,
        ["error"] = trial.Error,
        ["model_sha256"] = trial.ModelSha256,
    };

    private static JsonObject Numbers(IReadOnlyDictionary<string, double> metrics) =>
        new(metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => KeyValuePair.Create(m.Key, (JsonNode?)JsonValue.Create(double.IsFinite(m.Value) ? Math.Round(m.Value, 6) : 0))));

    /// <summary>The HTML page: summary, the plot, the trial table.</summary>
    public static string Html(SearchResult result)
    {
        var axes = Axes(result);
        var text = new StringBuilder();
        text.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Compression search: ")
            .Append(Encode(Path.GetFileName(result.InputPath))).Append("</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}")
            .Append("td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td.v{text-align:left}")
            .Append("tr.chosen{background:#ffe9e6;font-weight:bold}tr.front td:first-child{border-left:4px solid #2b6cb0}")
            .Append("</style></head><body>\n");
        text.Append("<h1>Search: ").Append(Encode(Path.GetFileName(result.InputPath))).Append("</h1>\n<p>").Append(Encode(result.Summary)).Append("</p>\n");
        text.Append("<p>Objectives: ").Append(Encode(string.Join(", ", result.Objectives))).Append(". Constraints: ")
            .Append(Encode(result.Constraints.Count == 0 ? "none" : string.Join(", ", result.Constraints.Select(c => c.Text)))).Append(".</p>\n");
        if (axes is { } a)
        {
            text.Append(Svg(result, a.X, a.Y)).Append('\n');
        }

        if (result.Final is { Evaluation: { } evaluation } final)
        {
            text.Append("<p>The chosen model, ").Append(Encode(SearchMetric.FormatSize(final.OutputSizeBytes))).Append(", on the held-out data '")
                .Append(Encode(evaluation.DataSet)).Append("': ").Append(Encode(Held(evaluation))).Append(". Gates: ")
                .Append(final.Gates.Count == 0 ? "none" : Encode(string.Join(" ", final.Gates.Select(g => g.Message)))).Append("</p>\n");
        }

        text.Append(Table(result));
        text.Append("</body></html>\n");
        return text.ToString();
    }

    /// <summary>What the chosen model scored on the held-out data, before and after.</summary>
    public static string Held(Evaluation.EvaluationReport evaluation)
    {
        var before = evaluation.Reference.Task;
        var after = evaluation.Candidate?.Task;
        return before.Top1 is { } a && after?.Top1 is { } b
            ? string.Create(CultureInfo.InvariantCulture, $"top-1 {a:0.00 %} before, {b:0.00 %} after ({(a - b) * 100:0.00} points lost)")
            : before.Spearman is { } s && after?.Spearman is { } t
                ? string.Create(CultureInfo.InvariantCulture, $"Spearman x100 {s * 100:0.00} before, {t * 100:0.00} after ({(s - t) * 100:0.00} lost)")
                : evaluation.Fidelity.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $"cosine to the original {evaluation.Fidelity.Min(f => f.Cosine):0.0000}") : "no task metric";
    }

    /// <summary>x: size when it is measured, else the first objective; y: the first other objective or constrained metric.</summary>
    private static (SearchMetric X, SearchMetric Y)? Axes(SearchResult result)
    {
        var metrics = result.Objectives.Select(o => o.Metric).Concat(result.Constraints.Select(c => c.Metric)).DistinctBy(m => m.Name).ToList();
        var x = metrics.FirstOrDefault(m => m.Name == "size") ?? metrics.FirstOrDefault();
        var y = metrics.FirstOrDefault(m => m != x && m.Name is not ("size" or "size_ratio"));
        return x is null || y is null ? null : (x, y);
    }

    private static string Svg(SearchResult result, SearchMetric xMetric, SearchMetric yMetric)
    {
        const double Width = 720, Height = 440, Left = 80, Right = 20, Top = 20, Bottom = 60;
        var points = result.Trials.Where(t => t.Metric(xMetric.Name) is not null && t.Metric(yMetric.Name) is not null).ToList();
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        if (points.Count == 0)
        {
            return svg.Append("<text x=\"20\" y=\"40\">No trial was measured.</text></svg>").ToString();
        }

        // The constraint as a line on the y axis: directly, or a drop constraint as the original's value minus the drop.
        var limit = result.Constraints.FirstOrDefault(c => c.Metric.Name == yMetric.Name);
        var drop = limit is null ? result.Constraints.FirstOrDefault(c => c.Metric.Name == yMetric.Name + "_drop" && c.AtMost) : null;
        double? limitValue = limit?.Limit ?? (drop is not null && result.Baseline.TryGetValue(yMetric.Name, out var original) ? original - drop.Limit : null);
        var limitText = limit?.Text ?? drop?.Text;
        var xs = points.Select(t => t.Metric(xMetric.Name)!.Value).ToList();
        var ys = points.Select(t => t.Metric(yMetric.Name)!.Value).Concat(limitValue is { } l ? [l] : []).ToList();
        var (x0, x1) = Pad(xs.Min(), xs.Max());
        var (y0, y1) = Pad(ys.Min(), ys.Max());
        double X(double v) => Left + (v - x0) / (x1 - x0) * (Width - Left - Right);
        double Y(double v) => Height - Bottom - (v - y0) / (y1 - y0) * (Height - Top - Bottom);
        string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Width - Left - Right}\" height=\"{Height - Top - Bottom}\" fill=\"#fafafa\" stroke=\"#999\"/>");
        for (var i = 0; i <= 4; i++)
        {
            var xv = x0 + i * (x1 - x0) / 4;
            var yv = y0 + i * (y1 - y0) / 4;
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(xv))}\" y=\"{F(Height - Bottom + 18)}\" text-anchor=\"middle\">{Encode(xMetric.Format(xv))}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Left - 6)}\" y=\"{F(Y(yv) + 4)}\" text-anchor=\"end\">{Encode(yMetric.Format(yv))}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(Left)}\" x2=\"{F(Width - Right)}\" y1=\"{F(Y(yv))}\" y2=\"{F(Y(yv))}\" stroke=\"#eee\"/>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F((Left + Width - Right) / 2)}\" y=\"{F(Height - 16)}\" text-anchor=\"middle\">{Encode(xMetric.Name)} ({(xMetric.HigherIsBetter ? "higher" : "lower")} is better)</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(16 {F((Top + Height - Bottom) / 2)}) rotate(-90)\" text-anchor=\"middle\">{Encode(yMetric.Name)} ({(yMetric.HigherIsBetter ? "higher" : "lower")} is better)</text>");
        if (limitValue is { } line)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(Left)}\" x2=\"{F(Width - Right)}\" y1=\"{F(Y(line))}\" y2=\"{F(Y(line))}\" stroke=\"#c53030\" stroke-dasharray=\"6 4\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Width - Right - 4)}\" y=\"{F(Y(line) - 5)}\" text-anchor=\"end\" fill=\"#c53030\">{Encode(limitText!)}</text>");
        }

        var front = points.Where(t => t.OnFront).OrderBy(t => t.Metric(xMetric.Name)).ToList();
        if (front.Count > 1)
        {
            svg.Append("<polyline fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"1.5\" points=\"")
                .Append(string.Join(" ", front.Select(t => $"{F(X(t.Metric(xMetric.Name)!.Value))},{F(Y(t.Metric(yMetric.Name)!.Value))}"))).Append("\"/>");
        }

        foreach (var trial in points)
        {
            var (cx, cy) = (F(X(trial.Metric(xMetric.Name)!.Value)), F(Y(trial.Metric(yMetric.Name)!.Value)));
            var fill = trial.OnFront ? "#2b6cb0" : trial.Feasible ? "#68a063" : "none";
            var stroke = trial.Feasible || trial.OnFront ? fill : "#888";
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{cx}\" cy=\"{cy}\" r=\"4\" fill=\"{fill}\" stroke=\"{stroke}\"><title>{Encode(trial.ToString())}</title></circle>");
        }

        if (result.Chosen is { } chosen && chosen.Metric(xMetric.Name) is { } chosenX && chosen.Metric(yMetric.Name) is { } chosenY)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(chosenX))}\" cy=\"{F(Y(chosenY))}\" r=\"9\" fill=\"none\" stroke=\"#e53e3e\" stroke-width=\"2.5\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(chosenX) + 12)}\" y=\"{F(Y(chosenY) - 10)}\" fill=\"#e53e3e\" font-weight=\"bold\">chosen: trial {chosen.Number}</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Left + 8)}\" y=\"{F(Top + 16)}\" fill=\"#555\">● front  ● meets the constraints  ○ misses them</text>");
        return svg.Append("</svg>").ToString();
    }

    private static (double, double) Pad(double min, double max)
    {
        if (max - min < 1e-12)
        {
            var delta = Math.Max(Math.Abs(min) * 0.05, 1e-3);
            return (min - delta, max + delta);
        }

        var pad = (max - min) * 0.06;
        return (min - pad, max + pad);
    }

    private static string Table(SearchResult result)
    {
        var names = result.Trials.SelectMany(t => t.Values.Keys).Distinct().ToList();
        var metrics = result.Objectives.Select(o => o.Metric).Concat(result.Constraints.Select(c => c.Metric)).DistinctBy(m => m.Name).ToList();
        var text = new StringBuilder("<table>\n<tr><th>trial</th>");
        foreach (var name in names)
        {
            text.Append("<th>").Append(Encode(name)).Append("</th>");
        }

        foreach (var metric in metrics)
        {
            text.Append("<th>").Append(Encode(metric.Name)).Append("</th>");
        }

        text.Append("<th>meets</th><th>front</th></tr>\n");
        foreach (var trial in result.Trials)
        {
            var css = result.Chosen?.Number == trial.Number ? "chosen" : trial.OnFront ? "front" : "";
            text.Append(CultureInfo.InvariantCulture, $"<tr class=\"{css}\"><td>{trial.Number}</td>");
            foreach (var name in names)
            {
                text.Append("<td class=\"v\">").Append(Encode(trial.Values.GetValueOrDefault(name, "-"))).Append("</td>");
            }

            if (trial.Error is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $"<td class=\"v\" colspan=\"{metrics.Count}\">{Encode(trial.Error)}</td>");
            }
            else
            {
                foreach (var metric in metrics)
                {
                    text.Append("<td>").Append(trial.Metric(metric.Name) is { } v ? Encode(metric.Format(v)) : "-").Append("</td>");
                }
            }

            text.Append("<td>").Append(trial.Feasible ? "yes" : "no").Append("</td><td>").Append(trial.OnFront ? "yes" : "").Append("</td></tr>\n");
        }

        return text.Append("</table>\n").ToString();
    }

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    private static void Save(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }
}
