using Compression.Core.Data;
using Compression.Core.Diagnostics;
using Compression.Core.Evaluation;
using Compression.Core.Evaluation.Metrics;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Passes;
using Compression.Core.Quantization;
using Compression.Core.Quantization.Dynamic;
using Compression.Core.Tests.Quantization;
using Compression.Core.Tests.Support;
using Xunit.Abstractions;

namespace Compression.Core.Tests.Evaluation;

/// <summary>The fidelity figures each kind of output gets: agreement for class scores, pooled cosine and pair similarities for vectors.</summary>
public sealed class FidelityFiguresTests(ITestOutputHelper output) : IDisposable
{
    private readonly PassHarness harness = new();

    public void Dispose() => harness.Dispose();

    [Fact]
    public void Hidden_states_are_pooled_over_the_attention_mask_and_get_no_agreement()
    {
        // Two samples of three tokens of width 2; the second sample's last token is padding, where the candidate differs.
        var reference = new OutputValue("h", [2, 3, 2], [1, 0, 0, 1, 1, 1, /**/ 2, 0, 0, 2, 5, 5]);
        var candidate = new OutputValue("h", [2, 3, 2], [1, 0, 0, 1, 1, 1, /**/ 2, 0, 0, 2, -9, 3]);
        var mask = new TensorData("attention_mask", ElementType.Int64, [2, 3], new long[] { 1, 1, 1, 1, 1, 0 });
        var fidelity = new FidelityAccumulator(new OutputRole("h", OutputKind.HiddenStates, null, "test"));
        fidelity.Add(reference, candidate, mask);
        var result = fidelity.Result();

        Assert.Null(result.Agreement);
        Assert.Equal(1.0, result.PooledCosine!.Value, 12);
        Assert.True(result.Cosine < 0.9, $"cosine {result.Cosine}"); // the whole tensor sees the padding
        Assert.Equal(OutputKind.HiddenStates, result.Kind);
        Assert.DoesNotContain("agreement", result.ToString(), StringComparison.Ordinal);
        Assert.Contains("pooled cosine 1.0000", result.ToString(), StringComparison.Ordinal);

        // Without the mask every token counts, and the pooled vectors differ.
        var unmasked = new FidelityAccumulator(new OutputRole("h", OutputKind.HiddenStates, null, "test"));
        unmasked.Add(reference, candidate);
        Assert.True(unmasked.Result().PooledCosine < 0.999);
    }

    [Fact]
    public void Class_scores_agree_along_their_class_axis()
    {
        // [1, 3 classes, 2, 2]: four decisions along axis 1; the candidate changes the one at (1, 1).
        float[] scores = [0, 9, 0, 0, /**/ 5, 0, 0, 0, /**/ 1, 1, 9, 9];
        var changed = (float[])scores.Clone();
        changed[11] = 0;
        changed[3] = 10;
        var fidelity = new FidelityAccumulator(new OutputRole("seg", OutputKind.ClassScores, 1, "test"));
        fidelity.Add(new OutputValue("seg", [1, 3, 2, 2], scores), new OutputValue("seg", [1, 3, 2, 2], changed));
        var result = fidelity.Result();

        Assert.Equal(0.75, result.Agreement);
        Assert.Null(result.PooledCosine);
        Assert.Contains("agreement 75.00 %", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Pair_similarities_correlate_by_rank()
    {
        var fidelity = new FidelityAccumulator(new OutputRole("e", OutputKind.Embedding, null, "test"));
        // Four pairs whose similarity falls from the first to the last in both models; the candidate is scaled and nudged.
        var first = new OutputValue("e", [4, 2], [1, 0, 1, 0, 1, 0, 1, 0]);
        var second = new OutputValue("e", [4, 2], [1, 0, 1, 0.5f, 1, 2, 0, 1]);
        var firstCandidate = new OutputValue("e", [4, 2], [2, 0, 2, 0.1f, 2, 0, 2, 0]);
        var secondCandidate = new OutputValue("e", [4, 2], [1, 0, 1, 0.6f, 1, 2.5f, 0.1f, 1]);
        fidelity.AddPairs(first, firstCandidate, null, second, secondCandidate, null);
        var result = fidelity.Result();

        Assert.Equal(1.0, result.PairSimilaritySpearman!.Value, 12);
        Assert.InRange(result.PooledCosine!.Value, 0.99, 1.0);
    }

    [SkippableFact]
    public void Dynamic_int8_MiniLm_on_sentence_pairs_keeps_its_pooled_vectors_and_pair_order()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var result = new DynamicQuantizer().Quantize(ModelLoader.Load(path), new QuantizeOptions(), new PassContext(harness.Log));
        var quantized = QuantizationAssets.SaveBesideVocab(result.Model, path, harness.Temp, "dynamic");
        var log = new CollectingLog();

        var report = Evaluator.Evaluate(path, quantized, StsbSample(path), new EvaluationOptions { Threads = 2 }, log);

        var hidden = report.Fidelity.Single(f => f.Output == "last_hidden_state");
        var pooled = report.Fidelity.Single(f => f.Output == "924");
        output.WriteLine(hidden.ToString());
        output.WriteLine(pooled.ToString());
        Assert.Equal(48, report.Reference.Task.Samples);
        Assert.Equal((OutputKind.HiddenStates, OutputKind.Embedding), (hidden.Kind, pooled.Kind));
        Assert.Null(hidden.Agreement); // the arg-max of a hidden dimension (77 % before) is not reported
        Assert.Null(pooled.Agreement);
        Assert.InRange(hidden.PooledCosine!.Value, 0.98, 0.9999);
        Assert.InRange(pooled.PooledCosine!.Value, 0.98, 0.9999);
        Assert.True(hidden.PairSimilaritySpearman > 0.99, $"pair similarity Spearman {hidden.PairSimilaritySpearman}");
        // Padding tokens are noise the masked mean leaves out; the whole tensor's cosine counts them.
        Assert.True(hidden.PooledCosine > hidden.Cosine, $"pooled {hidden.PooledCosine}, whole {hidden.Cosine}");
        Assert.Contains(log.VerboseLines, l => l.StartsWith("Fidelity of 'last_hidden_state': hidden states", StringComparison.Ordinal));
        Assert.StartsWith("Spearman ", report.Headline, StringComparison.Ordinal);

        // The model against itself: every figure exact.
        var same = Evaluator.Evaluate(path, path, StsbSample(path), new EvaluationOptions { Threads = 2 }, new CollectingLog()).Fidelity.Single(f => f.Output == "last_hidden_state");
        Assert.Equal(1.0, same.PooledCosine!.Value, 6);
        Assert.Equal(1.0, same.PairSimilaritySpearman!.Value, 12);
    }

    [SkippableFact]
    public void Mnist_gets_agreement_and_no_pooled_figures()
    {
        var path = TestAssets.Require(TestAssets.Mnist, "mnist-8");
        var folder = Path.GetDirectoryName(TestAssets.Require(Path.Combine(TestAssets.SharedAssets, "mnist", "t10k-images-idx3-ubyte.gz"), "MNIST test images"))!;
        var images = DataSourceFactory.Create(new DataSetSpec
        {
            Format = DataFormat.Idx,
            Path = "t10k-images-idx3-ubyte.gz",
            Labels = "t10k-labels-idx1-ubyte.gz",
            Take = 64,
        }, folder);
        var report = Evaluator.Evaluate(path, path, images, new EvaluationOptions(), new CollectingLog());
        var fidelity = Assert.Single(report.Fidelity);
        Assert.Equal((OutputKind.ClassScores, (double?)1.0), (fidelity.Kind, fidelity.Agreement));
        Assert.Null(fidelity.PooledCosine);
        Assert.Null(fidelity.PairSimilaritySpearman);
    }

    [SkippableFact]
    public void Asking_for_agreement_on_a_model_without_class_scores_names_its_outputs()
    {
        var path = TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2");
        var error = Assert.Throws<CompressionException>(() =>
            Evaluator.Evaluate(path, path, StsbSample(path), new EvaluationOptions { Metrics = [MetricName.Agreement] }, new CollectingLog()));
        var diagnostic = Assert.Single(error.Diagnostics);
        Assert.Equal(ErrorCodes.MetricNotApplicable, diagnostic.Code);
        Assert.Contains("last_hidden_state: hidden states", diagnostic.Message, StringComparison.Ordinal);
    }

    /// <summary>The 48 STS-B pairs committed in examples/data, tokenized with the vocabulary beside the extracted model.</summary>
    private static IDataSource StsbSample(string miniLm) => DataSourceFactory.Create(new DataSetSpec
    {
        Format = DataFormat.Text,
        Path = Path.Combine(TestAssets.RepoRoot, "examples", "data", "stsb-sample.tsv"),
        PairColumns = [5, 6],
        ScoreColumn = 4,
        Vocab = Path.Combine(Path.GetDirectoryName(miniLm)!, "vocab.txt"),
    }, TestAssets.RepoRoot);
}
