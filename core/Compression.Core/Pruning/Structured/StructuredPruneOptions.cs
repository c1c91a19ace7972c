using Compression.Core.Options;
using Compression.Core.Passes;

namespace Compression.Core.Pruning.Structured;

/// <summary>The <c>structured</c> options of the <c>prune</c> step (method: structured).</summary>
public sealed record StructuredPruneOptions
{
    [Option("Attention heads removed from every attention block (Q, K, V columns of a head, the matching rows of the output projection, and the head count in the Reshape shapes); 0 keeps every head.", Minimum = 0)]
    public int Heads { get; init; }

    [Option("Fraction of the neurons of every MatMul/Gemm group (e.g. a transformer FFN's intermediate neurons) removed; unset: sparsity.", Minimum = 0, Maximum = 1)]
    public double? Neurons { get; init; }

    [Option("Fraction of the output channels of every Conv group removed; unset: sparsity.", Minimum = 0, Maximum = 1)]
    public double? Channels { get; init; }

    [Option("Also prune groups that tie several layers together through element-wise ops such as residual Adds (all of them pruned alike); off: only groups with one producing layer.")]
    public bool Coupled { get; init; }

    [Option("Kept channels per group are rounded up to a multiple of this (8 or 16 helps vectorized kernels).", Minimum = 1)]
    public int RoundTo { get; init; } = 1;
}
