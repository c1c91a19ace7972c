using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Quantization.Recurrent;

/// <summary>
/// The constant weights of one LSTM, GRU or RNN node: W [directions, gates * hidden, input] and
/// R [directions, gates * hidden, hidden], each row one output of one gate.
/// </summary>
internal sealed record RecurrentWeights(NodeProto Node, TensorProto W, TensorProto R, int Directions, int Gates, int Hidden)
{
    public int Input => (int)W.Dims[2];

    /// <summary>Float32 bytes of W and R.</summary>
    public long FloatBytes => 4L * Directions * Gates * Hidden * (Input + Hidden);
}
