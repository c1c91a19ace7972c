using Compression.Core.Evaluation;
using Compression.Core.Onnx;
using Compression.Core.Onnx.Tensors;
using Compression.Core.Tests.Support;
using static Compression.Core.Tests.Passes.GraphBuilder;

namespace Compression.Core.Tests.Evaluation;

/// <summary>The rule that decides which outputs hold class scores (top-1 agreement applies) and which hold vectors.</summary>
public sealed class OutputRolesTests
{
    [SkippableFact]
    public void MiniLm_gives_hidden_states_and_a_pooled_embedding_not_class_scores()
    {
        var roles = OutputRoles.Of(ModelLoader.Load(TestAssets.Require(TestAssets.MiniLm, "all-MiniLM-L6-v2"), LoadOptions.MetadataOnly));

        Assert.Equal(OutputKind.HiddenStates, roles["last_hidden_state"].Kind);
        Assert.Null(roles["last_hidden_state"].ClassAxis);
        // BERT's pooler: Tanh(Gemm(first token)). The Gemm alone would read as a classifier's head; the Tanh says otherwise.
        Assert.Equal(OutputKind.Embedding, roles["924"].Kind);
        Assert.Contains("Tanh", roles["924"].Reason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Mnist_logits_are_class_scores_along_the_last_axis()
    {
        var role = Assert.Single(OutputRoles.Of(ModelLoader.Load(TestAssets.Require(TestAssets.Mnist, "mnist-8"), LoadOptions.MetadataOnly))).Value;

        // Add(MatMul(x, Reshape(weight)), bias): the weight is reshaped in the graph, still a constant.
        Assert.Equal(OutputKind.ClassScores, role.Kind);
        Assert.Equal(-1, role.ClassAxis);
        Assert.Contains("MatMul", role.Reason, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void PaddleOcr_recognizer_and_classifier_are_class_scores_and_the_detector_map_is_not()
    {
        Role("ch_PP-OCRv4_rec_infer.onnx", OutputKind.ClassScores, 2); // Softmax over the 6,625 characters of each step
        Role("ch_ppocr_mobile_v2.0_cls_infer.onnx", OutputKind.ClassScores, 1); // Softmax over 2 directions
        Role("ch_PP-OCRv4_det_infer.onnx", OutputKind.Other, null); // Sigmoid text map: no single decision

        static void Role(string file, OutputKind kind, int? axis)
        {
            var model = ModelLoader.Load(TestAssets.Require(TestAssets.PaddleOcr(file), $"PaddleOCR {file}"), LoadOptions.MetadataOnly);
            var role = Assert.Single(OutputRoles.Of(model)).Value;
            Assert.Equal((kind, axis), (role.Kind, role.ClassAxis));
        }
    }

    [SkippableFact]
    public void ResNet18_features_are_an_embedding()
    {
        var role = Assert.Single(OutputRoles.Of(ModelLoader.Load(TestAssets.Require(TestAssets.ResNet18, "ResNet18"), LoadOptions.MetadataOnly))).Value;
        Assert.Equal(OutputKind.Embedding, role.Kind); // [1, 512, 1, 1] from AveragePool
    }

    [Fact]
    public void Every_classifier_of_the_export_corpus_gives_class_scores()
    {
        var files = Directory.GetFiles(TestAssets.Corpus, "*.onnx");
        Assert.NotEmpty(files);
        Assert.All(files, file =>
        {
            var role = Assert.Single(OutputRoles.Of(ModelLoader.Load(file, LoadOptions.MetadataOnly))).Value;
            Assert.True(role.Kind == OutputKind.ClassScores, $"{Path.GetFileName(file)}: {role}");
        });
    }

    [Fact]
    public void A_linear_head_is_class_scores_unless_it_has_one_column_or_an_embedding_name()
    {
        Assert.Equal(OutputKind.ClassScores, LinearHead("logits", columns: 10).Kind);
        Assert.Equal(OutputKind.Other, LinearHead("logits", columns: 1).Kind); // a regression
        Assert.Equal(OutputKind.Embedding, LinearHead("text_embeds", columns: 512).Kind); // CLIP's projection
    }

    [Fact]
    public void A_softmax_over_the_channels_of_a_map_gives_class_scores_along_that_axis()
    {
        var softmax = Node("Softmax", ["x"], ["seg"]);
        softmax.Attribute.Add(Int("axis", 1));
        var model = Model([softmax], [Value("x", ElementType.Float, 1, 21, 8, 8)], [Value("seg", ElementType.Float, 1, 21, 8, 8)]);
        var role = OutputRoles.Of(model)["seg"];
        Assert.Equal((OutputKind.ClassScores, 1), (role.Kind, role.ClassAxis));
    }

    [Fact]
    public void A_pointwise_conv_map_is_class_scores_only_when_named_so()
    {
        Assert.Equal((OutputKind.ClassScores, (int?)1), Conv1x1("logits"));
        Assert.Equal((OutputKind.Other, (int?)null), Conv1x1("output"));

        static (OutputKind, int?) Conv1x1(string name)
        {
            var model = Model([Node("Conv", ["x", "w"], [name])], [Value("x", ElementType.Float, 1, 8, 4, 4)], [Value(name, ElementType.Float, 1, 5, 4, 4)],
                [TensorCodec.FromSingle("w", [5, 8, 1, 1], new float[40], ElementType.Float)]);
            var role = OutputRoles.Of(model)[name];
            return (role.Kind, role.ClassAxis);
        }
    }

    [Fact]
    public void Token_vectors_of_a_model_without_token_inputs_are_left_as_other()
    {
        // [batch, channels, length] of a Conv1d is not [batch, sequence, hidden]: pooling it over axis 1 would mix channels.
        var model = Model([Node("Relu", ["x"], ["y"])], [Value("x", ElementType.Float, 1, 16, 100)], [Value("y", ElementType.Float, 1, 16, 100)]);
        Assert.Equal(OutputKind.Other, OutputRoles.Of(model)["y"].Kind);
    }

    private static OutputRole LinearHead(string name, long columns)
    {
        var gemm = Node("Gemm", ["x", "w", "b"], [name]);
        gemm.Attribute.Add(Int("transB", 1));
        var model = Model([gemm], [Value("x", ElementType.Float, 2, 16)], [Value(name, ElementType.Float, 2, columns)],
            [TensorCodec.FromSingle("w", [columns, 16], new float[columns * 16], ElementType.Float),
             TensorCodec.FromSingle("b", [columns], new float[columns], ElementType.Float)]);
        return OutputRoles.Of(model)[name];
    }
}
