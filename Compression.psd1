@{
    RootModule           = 'Compression.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d0c6c0e-3f1a-4a9e-9c43-7a1f2b8e6d21'
    Author               = 'Compression contributors'
    CompanyName          = 'Compression'
    Copyright            = '(c) Compression contributors. MIT licence.'
    Description          = 'Makes ONNX models smaller and faster (quantization, pruning, low-rank factorization, and a search over them), with results run in ONNX Runtime against the original. No Python.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    CmdletsToExport      = @('Get-ModelInfo', 'Invoke-ModelCompression', 'Find-ModelCompression', 'Invoke-ModelQuantize', 'Invoke-ModelPrune', 'Invoke-ModelFactorize', 'Measure-Model', 'Compare-Model', 'Test-CompressionRecipe')
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    FormatsToProcess     = @('Compression.format.ps1xml')
    PrivateData          = @{
        PSData = @{
            Tags         = @('ONNX', 'Compression', 'Quantization', 'Pruning', 'LowRank', 'MachineLearning', 'OnnxRuntime')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'Get-ModelInfo inspects ONNX models. Invoke-ModelQuantize quantizes (dynamic and static int8, 4/8-bit weight-only with GPTQ, float16/bfloat16, per-layer fallback). Invoke-ModelPrune prunes (unstructured, N:M, structured channels, neurons and heads, with reconstruction). Invoke-ModelFactorize splits MatMul, Gemm and Conv layers into low-rank factors (whitened SVD, Tucker-2). Find-ModelCompression searches recipe options for the smallest or fastest model that meets your constraints, resumably. Invoke-ModelCompression runs YAML recipes (steps, evaluation with ONNX Runtime, gates, reports). Measure-Model and Compare-Model evaluate models on data; Test-CompressionRecipe validates recipes.''s space for the best model that meets its constraints.'
        }
    }
}
