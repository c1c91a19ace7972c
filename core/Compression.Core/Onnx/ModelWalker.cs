using Compression.Core.Onnx.Protobuf;

namespace Compression.Core.Onnx;

/// <summary>Walks every graph and tensor of a model: subgraphs of If/Loop/Scan, functions and training graphs included.</summary>
public static class ModelWalker
{
    /// <summary>Every graph of the model, the main graph first, then nested ones depth first.</summary>
    public static IEnumerable<GraphProto> Graphs(ModelProto model)
    {
        if (model.Graph is not null)
        {
            foreach (var graph in GraphAndSubgraphs(model.Graph))
            {
                yield return graph;
            }
        }

        foreach (var function in model.Functions)
        {
            foreach (var node in function.Node)
            {
                foreach (var graph in SubgraphsOf(node))
                {
                    yield return graph;
                }
            }
        }

        foreach (var training in model.TrainingInfo)
        {
            foreach (var root in new[] { training.Initialization, training.Algorithm })
            {
                if (root is null)
                {
                    continue;
                }

                foreach (var graph in GraphAndSubgraphs(root))
                {
                    yield return graph;
                }
            }
        }
    }

    /// <summary>The graph itself and every graph nested in its nodes' attributes.</summary>
    public static IEnumerable<GraphProto> GraphAndSubgraphs(GraphProto root)
    {
        yield return root;
        foreach (var node in root.Node)
        {
            foreach (var graph in SubgraphsOf(node))
            {
                yield return graph;
            }
        }
    }

    /// <summary>The graphs a node's attributes hold (If branches, Loop and Scan bodies), recursively.</summary>
    public static IEnumerable<GraphProto> SubgraphsOf(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null)
            {
                foreach (var graph in GraphAndSubgraphs(attribute.G))
                {
                    yield return graph;
                }
            }

            foreach (var body in attribute.Graphs)
            {
                foreach (var graph in GraphAndSubgraphs(body))
                {
                    yield return graph;
                }
            }
        }
    }

    /// <summary>Every node of the model, in every graph and function.</summary>
    public static IEnumerable<NodeProto> Nodes(ModelProto model)
    {
        foreach (var graph in Graphs(model))
        {
            foreach (var node in graph.Node)
            {
                yield return node;
            }
        }

        foreach (var function in model.Functions)
        {
            foreach (var node in function.Node)
            {
                yield return node;
            }
        }
    }

    /// <summary>
    /// Every dense tensor stored in the model: initializers, the values and indices of sparse initializers,
    /// and tensors held in node attributes (Constant values and any other tensor attribute).
    /// </summary>
    public static IEnumerable<TensorProto> Tensors(ModelProto model)
    {
        foreach (var graph in Graphs(model))
        {
            foreach (var tensor in graph.Initializer)
            {
                yield return tensor;
            }

            foreach (var sparse in graph.SparseInitializer)
            {
                foreach (var part in SparseParts(sparse))
                {
                    yield return part;
                }
            }

            foreach (var node in graph.Node)
            {
                foreach (var tensor in AttributeTensors(node))
                {
                    yield return tensor;
                }
            }
        }

        foreach (var function in model.Functions)
        {
            foreach (var node in function.Node)
            {
                foreach (var tensor in AttributeTensors(node))
                {
                    yield return tensor;
                }
            }
        }
    }

    /// <summary>Tensors held directly in a node's attributes (not those of its subgraphs).</summary>
    public static IEnumerable<TensorProto> AttributeTensors(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.T is not null)
            {
                yield return attribute.T;
            }

            foreach (var tensor in attribute.Tensors)
            {
                yield return tensor;
            }

            if (attribute.SparseTensor is not null)
            {
                foreach (var part in SparseParts(attribute.SparseTensor))
                {
                    yield return part;
                }
            }

            foreach (var sparse in attribute.SparseTensors)
            {
                foreach (var part in SparseParts(sparse))
                {
                    yield return part;
                }
            }
        }
    }

    private static IEnumerable<TensorProto> SparseParts(SparseTensorProto sparse)
    {
        if (sparse.Values is not null)
        {
            yield return sparse.Values;
        }

        if (sparse.Indices is not null)
        {
            yield return sparse.Indices;
        }
    }
}
