BeforeDiscovery {
    $HasShared = Test-Path (Join-Path $PSScriptRoot '../../../shared/assets/mnist/mnist-8.onnx')
}

BeforeAll {
    $script:ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    Import-Module $ModulePath -Force
    $script:Assets = Join-Path $PSScriptRoot '../../../shared/assets'
    $script:Images = Join-Path $Assets 'mnist/t10k-images-idx3-ubyte.gz'
    $script:Labels = Join-Path $Assets 'mnist/t10k-labels-idx1-ubyte.gz'
}

Describe 'Invoke-ModelCompression' -Skip:(-not $HasShared) {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "pester-$PID-$(Get-Random)")
        Copy-Item (Join-Path $Assets 'mnist/mnist-8.onnx') $Folder
        $script:Model = Join-Path $Folder 'mnist-8.onnx'
        $script:Recipe = Join-Path $Folder 'recipe.yaml'
        Set-Content $Recipe @"
version: 1
data:
  test: { format: idx, path: $Images, labels: $Labels, take: 200 }
steps: []
evaluate: { data: test }
gates: { accuracy_drop: 0.0 }
output: "{name}.rt.onnx"
"@
    }
    AfterEach { Remove-Item $Folder -Recurse -Force }

    It 'compresses, evaluates, gates and reports' {
        $result = Invoke-ModelCompression -Path $Model -Recipe $Recipe
        $result.PSObject.TypeNames[0] | Should -Be 'Compression.Core.Pipeline.CompressionResult'
        $result.Passed | Should -BeTrue
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.rt.onnx')
        Test-Path $result.ReportPath | Should -BeTrue
        $result.Evaluation.Reference.Task.Samples | Should -Be 200
        ($result | Format-Table | Out-String) | Should -Match 'mnist-8\.onnx'
        ($result | Format-List | Out-String) | Should -Match 'Gate accuracy_drop'
    }

    It '-WhatIf writes nothing' {
        Invoke-ModelCompression -Path $Model -Recipe $Recipe -WhatIf
        (Get-ChildItem $Folder).Name | Sort-Object | Should -Be @('mnist-8.onnx', 'recipe.yaml')
    }

    It 'takes models from Get-ChildItem' {
        $results = Get-ChildItem $Folder -Filter *.onnx | Invoke-ModelCompression -Recipe $Recipe
        @($results).Count | Should -Be 1
    }

    It 'refuses an existing output without -Force, and replaces it with -Force' {
        Invoke-ModelCompression -Path $Model -Recipe $Recipe | Out-Null
        $second = Invoke-ModelCompression -Path $Model -Recipe $Recipe -ErrorVariable errors -ErrorAction SilentlyContinue
        $second | Should -BeNullOrEmpty
        $errors[0].FullyQualifiedErrorId | Should -BeLike 'CMP2011,*'
        (Invoke-ModelCompression -Path $Model -Recipe $Recipe -Force).Passed | Should -BeTrue
    }

    It 'reports a failed gate as CMP4001, still returns the result, and writes no model' {
        Add-Content $Recipe 'gates: { max_size_ratio: 0.1 }' -NoNewline:$false
        (Get-Content $Recipe) -replace '^gates: \{ accuracy_drop: 0.0 \}$', '' | Set-Content $Recipe
        $result = Invoke-ModelCompression -Path $Model -Recipe $Recipe -ErrorVariable errors -ErrorAction SilentlyContinue
        $result.Passed | Should -BeFalse
        $errors[0].FullyQualifiedErrorId | Should -BeLike 'CMP4001,*'
        $errors[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
        Test-Path (Join-Path $Folder 'mnist-8.rt.onnx') | Should -BeFalse
    }

    It 'makes an exception the engine did not expect one CMP5010 error on the model, the stack only in -Verbose, and keeps the model it wrote' {
        Set-Content $Recipe "steps: []`noutput: `"{name}.rt.onnx`""
        # A folder where the report goes: writing the report fails with an IOException after the model was written.
        New-Item -ItemType Directory (Join-Path $Folder 'mnist-8.rt.onnx.report.json') | Out-Null
        $verbose = Invoke-ModelCompression -Path $Model -Recipe $Recipe -Verbose -ErrorVariable failures -ErrorAction SilentlyContinue 4>&1
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'CMP5010,*'
        $failures[0].TargetObject | Should -Be $Model
        # One line: the model, the exception's type and message (naming the report), and where to look; no stack.
        $failures[0].Exception.Message | Should -Match "^$([regex]::Escape($Model)): (IO|UnauthorizedAccess)Exception: [^\r\n]*mnist-8\.rt\.onnx\.report\.json[^\r\n]* \(Compression did not expect this: -Verbose shows the stack; see CMP5010 in docs/errors\.md\)$"
        ($verbose | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Message -join "`n" | Should -Match 'at Compression\.Core\.Reports\.ReportWriter\.Write'
        Test-Path (Join-Path $Folder 'mnist-8.rt.onnx') | Should -BeTrue
    }

    It 'stops on a bad recipe with every error, writing nothing' {
        Set-Content $Recipe "version: 2`nevalute: { data: test }`nsteps:`n  - quantise: {}`n"
        { Invoke-ModelCompression -Path $Model -Recipe $Recipe -ErrorAction Stop } | Should -Throw
        $terminating = $null
        try { Invoke-ModelCompression -Path $Model -Recipe $Recipe -ErrorVariable errors -ErrorAction SilentlyContinue } catch { $terminating = $_ }
        $all = @($errors) + @($terminating) | Where-Object { $_ } | Sort-Object FullyQualifiedErrorId -Unique
        ($all.FullyQualifiedErrorId | ForEach-Object { $_.Split(',')[0] }) | Should -Be @('CMP1003', 'CMP1005', 'CMP1007')
        $terminating.Exception.Message | Should -Match 'recipe\.yaml\(\d+,\d+\)'
        (Get-ChildItem $Folder).Count | Should -Be 2
    }
}

Describe 'Test-CompressionRecipe' {
    It 'returns nothing for a valid recipe and every diagnostic for a bad one' {
        $folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "pester-$PID-$(Get-Random)")
        try {
            Set-Content (Join-Path $folder 'good.yaml') "steps: []"
            Set-Content (Join-Path $folder 'bad.yaml') "version: 2`nevalute: {}`n"
            Test-CompressionRecipe (Join-Path $folder 'good.yaml') | Should -BeNullOrEmpty
            $diagnostics = Test-CompressionRecipe (Join-Path $folder 'bad.yaml')
            $diagnostics.Code | Sort-Object | Should -Be @('CMP1003', 'CMP1005')
            ($diagnostics | Where-Object Code -eq 'CMP1003').Line | Should -Be 2
            ($diagnostics | Format-Table | Out-String) | Should -Match 'CMP1003'
            ($diagnostics | Format-List | Out-String) | Should -Match 'bad\.yaml\(2,1\)'
        }
        finally { Remove-Item $folder -Recurse -Force }
    }
}

Describe 'Measure-Model and Compare-Model' -Skip:(-not $HasShared) {
    It 'measures mnist-8 at 98.90 % top-1 on the MNIST test set' {
        $measurement = Measure-Model (Join-Path $Assets 'mnist/mnist-8.onnx') -Data $Images
        $measurement.Task.Samples | Should -Be 10000
        [math]::Round($measurement.Task.Top1, 4) | Should -Be 0.989
        ($measurement | Format-Table | Out-String) | Should -Match '98\.90 %'
        ($measurement | Format-List | Out-String) | Should -Match 'Size\s+:\s+25\.8 KB'
    }

    It 'compares a model with itself: full agreement, zero error' {
        $model = Join-Path $Assets 'mnist/mnist-8.onnx'
        $report = Compare-Model -Reference $model -Difference $model -Data $Images -Take 100
        $report.Fidelity[0].Agreement | Should -Be 1
        $report.Fidelity[0].MaxAbsoluteError | Should -Be 0
        ($report | Format-Table | Out-String) | Should -Match 'mnist-8\.onnx\s+100\.0 %\s+0\.00 pt\s+100\.00 %'
        ($report | Format-List | Out-String) | Should -Match 'agreement 100\.00 %'
    }

    It 'measures all-MiniLM-L6-v2 on STS-B test at Spearman 82.03 from a YAML data description' {
        $models = Join-Path $PSScriptRoot '../../out/models'
        $model = & (Join-Path $PSScriptRoot '../../examples/scripts/Get-ExampleModel.ps1') -Name MiniLM -Destination $models
        $description = Join-Path ([IO.Path]::GetTempPath()) "stsb-$PID.yaml"
        Set-Content $description @"
format: text
path: $(Join-Path $Assets 'stsb/sts-test.tsv')
pair_columns: [5, 6]
score_column: 4
vocab: $(Join-Path $models 'all-MiniLM-L6-v2.vocab.txt')
"@
        try {
            $measurement = Measure-Model $model -Data $description -BatchSize 64 -Threads 2 -Metric spearman
            $measurement.Task.Samples | Should -Be 1379
            [math]::Round(100 * $measurement.Task.Spearman, 2) | Should -BeIn @(82.01, 82.02, 82.03, 82.04, 82.05)
        }
        finally { Remove-Item $description }
    }

    It 'refuses a metric the data cannot give' {
        $random = Join-Path ([IO.Path]::GetTempPath()) "random-$PID.yaml"
        Set-Content $random "format: random`ncount: 4"
        try {
            Measure-Model (Join-Path $Assets 'mnist/mnist-8.onnx') -Data $random -Metric accuracy -ErrorVariable errors -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'CMP3004,*'
        }
        finally { Remove-Item $random }
    }
}

Describe 'The demo recipe (examples/recipes/all-MiniLM-L6-v2-demo.yaml, data in examples/data)' {
    It 'quantizes MiniLM and reports STS-B Spearman before and after, pooled cosine instead of agreement, and one line' {
        $model = & (Join-Path $PSScriptRoot '../../examples/scripts/Get-ExampleModel.ps1') -Name MiniLM -Destination (Join-Path $PSScriptRoot '../../out/models')
        $output = Join-Path ([IO.Path]::GetTempPath()) "demo-$PID.onnx"
        try {
            $result = Invoke-ModelCompression $model -Recipe (Join-Path $PSScriptRoot '../../examples/recipes/all-MiniLM-L6-v2-demo.yaml') -OutputPath $output -Force -WarningVariable warnings
            $result.Passed | Should -BeTrue
            $warnings | Should -BeNullOrEmpty
            $result.Evaluation.Reference.Task.Samples | Should -Be 48
            $result.Evaluation.Reference.Task.Spearman | Should -BeGreaterThan 0.8
            $result.Evaluation.Candidate.Task.Spearman | Should -BeGreaterThan 0.8
            $list = $result | Format-List | Out-String -Width 400
            $list | Should -Match 'Before\s+: 48 pairs: Spearman \d\d\.\d\d'
            $list | Should -Match 'After\s+: 48 pairs: Spearman \d\d\.\d\d'
            $list | Should -Match 'last_hidden_state \(hidden states\): pooled cosine 0\.9\d{3}, pair similarity Spearman'
            $list | Should -Not -Match 'agreement'
            ($result | Format-Table | Out-String -Width 400) | Should -Match 'Spearman \d\d\.\d\d -> \d\d\.\d\d'
            $result.Summary | Should -Match '^quantize \(dynamic\): 86\.7 MB -> 2\d\.\d MB \(2\d\.\d %\); Spearman \d\d\.\d\d -> \d\d\.\d\d \([-+]?\d\.\d\d\) on STS-B sample \(48 pairs\); gates: 2 passed$'
        }
        finally { Remove-Item "$output*" -ErrorAction SilentlyContinue }
    }
}

Describe 'examples/scripts/release-pipeline.ps1' -Skip:(-not $HasShared) {
    It 'writes a Markdown summary and exits 1 when a gate fails, 0 when all pass' {
        $folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "release-$PID-$(Get-Random)")
        try {
            New-Item -ItemType Directory (Join-Path $folder 'models') | Out-Null
            Copy-Item (Join-Path $Assets 'mnist/mnist-8.onnx') (Join-Path $folder 'models')
            Set-Content (Join-Path $folder 'pass.yaml') "steps: []`ngates: { max_size_ratio: 1.5 }"
            Set-Content (Join-Path $folder 'fail.yaml') "steps: []`ngates: { max_size_ratio: 0.5 }"
            $script = Join-Path $PSScriptRoot '../../examples/scripts/release-pipeline.ps1'
            $pwshDll = Join-Path $PSHOME 'pwsh.dll'
            foreach ($case in @(@{ Recipe = 'pass.yaml'; Exit = 0; Text = 'All models passed' }, @{ Recipe = 'fail.yaml'; Exit = 1; Text = 'FAILED: max_size_ratio' })) {
                $arguments = @('-NoProfile', '-File', $script, '-ModelFolder', (Join-Path $folder 'models'), '-Recipe', (Join-Path $folder $case.Recipe), '-OutputFolder', (Join-Path $folder 'out'), '-ModulePath', $ModulePath)
                if (Test-Path $pwshDll) { & dotnet $pwshDll @arguments | Out-Null } else { & ([Environment]::ProcessPath) @arguments | Out-Null }
                $LASTEXITCODE | Should -Be $case.Exit
                Get-Content (Join-Path $folder 'out/summary.md') -Raw | Should -Match $case.Text
            }
        }
        finally { Remove-Item $folder -Recurse -Force }
    }
}

Describe 'Invoke-ModelQuantize' -Skip:(-not $HasShared) {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "quantize-$PID-$(Get-Random)")
        Copy-Item (Join-Path $Assets 'mnist/mnist-8.onnx') $Folder
        $script:Model = Join-Path $Folder 'mnist-8.onnx'
    }
    AfterEach { Remove-Item $Folder -Recurse -Force }

    It 'writes model.int8.onnx with dynamic int8 by default, checked on the given data' {
        $result = Invoke-ModelQuantize $Model -CalibrationData $Images
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.int8.onnx')
        $result.SizeRatio | Should -BeLessThan 0.8
        $result.Evaluation.Candidate.Task.Top1 | Should -BeGreaterThan 0.98
    }

    It '-WhatIf writes nothing' {
        Invoke-ModelQuantize $Model -Mode Static -CalibrationData $Images -WhatIf
        (Get-ChildItem $Folder).Name | Should -Be 'mnist-8.onnx'
    }

    It 'refuses 3 bits as a parameter validation error and an already quantized model with CMP3201' {
        { Invoke-ModelQuantize $Model -Mode WeightOnly -Bits 3 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        $quantized = (Invoke-ModelQuantize $Model).OutputPath
        Invoke-ModelQuantize $quantized -OutputPath (Join-Path $Folder 'twice.onnx') -ErrorVariable twice -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $twice[0].FullyQualifiedErrorId | Should -BeLike 'CMP3201,*'
        Test-Path (Join-Path $Folder 'twice.onnx') | Should -BeFalse
    }
}

Describe 'Invoke-ModelPrune' -Skip:(-not $HasShared) {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "prune-$PID-$(Get-Random)")
        Copy-Item (Join-Path $Assets 'mnist/mnist-8.onnx') $Folder
        $script:Model = Join-Path $Folder 'mnist-8.onnx'
    }
    AfterEach { Remove-Item $Folder -Recurse -Force }

    It 'writes model.pruned50.onnx, reconstructed on the given data, with a per-layer table' {
        $result = Invoke-ModelPrune $Model -CalibrationData $Images
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.pruned50.onnx')
        $result.Evaluation.Candidate.Task.Top1 | Should -BeGreaterThan 0.98
        $pruned = $result.Steps[0].Result
        $pruned.Sparsity | Should -BeGreaterOrEqual 0.49
        $pruned.Reconstruction | Should -BeLike 'sparsegpt*'
        $pruned.Layers.Count | Should -Be 3
        $pruned.Layers | ForEach-Object { $_.Error | Should -Not -BeNullOrEmpty }
        # The views print the figures, not a type name.
        $shown = $result.Steps | Format-List | Out-String
        $shown | Should -Not -BeLike '*Dictionary*'
        $shown | Should -BeLike '*Sparsity: 0.5*'
        ($pruned.Layers | Format-Table | Out-String) | Should -BeLike '*Convolution28*pruned by*'

    }

    It 'names a 2:4 result by its pattern and takes the model from the pipeline' {
        $result = Get-Item $Model | Invoke-ModelPrune -Method NM -Pattern 2:4
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.pruned2of4.onnx')
    }

    It '-WhatIf writes nothing' {
        Invoke-ModelPrune $Model -CalibrationData $Images -WhatIf
        (Get-ChildItem $Folder).Name | Should -Be 'mnist-8.onnx'
    }

    It 'structured: removes a quarter of the Conv channels so the file shrinks, as model.slim.onnx' {
        $result = Invoke-ModelPrune $Model -Method Structured -Channels 0.25 -CalibrationData $Images
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.slim.onnx')
        $result.OutputSizeBytes | Should -BeLessThan (0.8 * $result.InputSizeBytes)
        $result.Evaluation.Candidate.Task.Top1 | Should -BeGreaterThan 0.97
        # Both convolutions lose output channels, the second and the MatMul lose the matching inputs.
        ($result.Steps[0].Result.Layers | ForEach-Object { '{0} {1}->{2}' -f $_.Node, ($_.Shape -join 'x'), ($_.ShapeAfter -join 'x') }) |
            Should -Be @('Convolution28 8x1x5x5->6x1x5x5', 'Convolution110 16x8x5x5->16x6x5x5', 'Convolution110 16x6x5x5->12x6x5x5', 'Times212 256x10->192x10')
    }

    It 'structured -WhatIf lists each group and what it would remove, and writes nothing' {
        # What-if text goes to the host only: a transcript records it.
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "whatif-$PID-$(Get-Random).txt"
        Start-Transcript -Path $transcript | Out-Null
        Invoke-ModelPrune $Model -Method Structured -Channels 0.25 -WhatIf
        Stop-Transcript | Out-Null
        $out = Get-Content $transcript -Raw
        Remove-Item $transcript
        $out | Should -Match 'remove 2 of 8 units from Convolution28'
        (Get-ChildItem $Folder).Name | Should -Be 'mnist-8.onnx'
    }

    It '-LayerSparsity sets some layers apart: -WhatIf shows each layer''s own sparsity, the result has it' {
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "whatif-$PID-$(Get-Random).txt"
        Start-Transcript -Path $transcript | Out-Null
        Invoke-ModelPrune $Model -LayerSparsity ([ordered]@{ Times212 = 0.7; Conv = 0 }) -WhatIf
        Stop-Transcript | Out-Null
        $out = Get-Content $transcript -Raw
        Remove-Item $transcript
        $out | Should -Match "'Times212' \(MatMul\) \[256x10\]: 1792 of 2560 weights zeroed \(layers 'Times212'\)"
        $out | Should -Match "'Convolution110' \(Conv\) \[16x8x5x5\]: left dense \(layers 'Conv'\)"
        (Get-ChildItem $Folder).Name | Should -Be 'mnist-8.onnx'

        $result = Invoke-ModelPrune $Model -LayerSparsity @{ Times212 = 0.7; Convolution28 = 0.3 } -OutputPath (Join-Path $Folder 'layers.onnx')
        ($result.Steps[0].Result.Layers | ForEach-Object { '{0} {1}' -f $_.Node, $_.Sparsity }) |
            Should -Be @('Convolution28 0.3', 'Convolution110 0.5', 'Times212 0.7')
        Remove-Item (Join-Path $Folder 'layers.onnx*')
    }

    It 'refuses a 5:4 pattern with CMP3402, a channel criterion with CMP3403, and writes nothing' {
        Invoke-ModelPrune $Model -Method NM -Pattern 5:4 -ErrorVariable bad -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'CMP3402,*'
        $bad[0].Exception.Message | Should -BeLike "*'5:4'*"
        Invoke-ModelPrune $Model -Criterion Fpgm -ErrorVariable criterion -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $criterion[0].FullyQualifiedErrorId | Should -BeLike 'CMP3403,*'
        (Get-ChildItem $Folder).Name | Should -Be 'mnist-8.onnx'
    }
}
