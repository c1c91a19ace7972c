using Compression.Core.Passes;
using Compression.Core.Passes.Graph;
using Compression.Core.Factorization;
using Compression.Core.Pruning;
using Compression.Core.Quantization;

namespace Compression.Core.Recipes;

/// <summary>Every pass a recipe can name, in one explicit table (no reflection scanning).</summary>
public static class PassRegistry
{
    public static IReadOnlyList<IPass> All { get; } =
    [
        new RemoveIdentityPass(),
        new RemoveDeadNodesPass(),
        new ConstantsToInitializersPass(),
        new InitializersToConstantsPass(),
        new DedupeInitializersPass(),
        new FoldBatchNormPass(),
        new FoldConstantsPass(),
        new QuantizePass(),
        new PrunePass(),
        new FactorizePass(),
    ];

    public static IPass? Find(string name) => All.FirstOrDefault(p => p.Name == name);
}
