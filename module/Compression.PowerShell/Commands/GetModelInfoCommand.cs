using System.Management.Automation;
using Compression.Core.Onnx.Inspection;

namespace Compression.PowerShell.Commands;

/// <summary>Reports what an ONNX model holds: size, IR and opsets, inputs and outputs, op counts, parameters.</summary>
[Cmdlet(VerbsCommon.Get, "ModelInfo", DefaultParameterSetName = PathSet)]
[OutputType("Compression.Core.Onnx.Inspection.ModelInfo")]
public sealed class GetModelInfoCommand : ModelCmdlet
{
    protected override void ProcessRecord()
    {
        foreach (var path in ResolveInputPaths())
        {
            WriteVerbose($"Reading {path}");
            Process(path, () => WriteObject(ModelInspector.Inspect(path)));
        }
    }
}
