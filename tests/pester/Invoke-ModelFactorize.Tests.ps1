# Invoke-ModelFactorize on the corpus MLP (tests/fixtures/corpus/mlp_gemm.onnx: Gemm layers 784-160-96-10), which is
# in the repository, so these run without the shared assets. -MinSpeedup 0 keeps them independent of the machine.

BeforeAll {
    $script:ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    Import-Module $ModulePath -Force
    $script:Corpus = Join-Path $PSScriptRoot '../fixtures/corpus/mlp_gemm.onnx'

    # What-if text goes to the host only: a transcript records it.
    function Get-WhatIfText([scriptblock] $Command) {
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "whatif-$PID-$(Get-Random).txt"
        Start-Transcript -Path $transcript | Out-Null
        try { & $Command } finally { Stop-Transcript | Out-Null }
        $text = Get-Content $transcript -Raw
        Remove-Item $transcript
        $text
    }
}

Describe 'Invoke-ModelFactorize' {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive "factorize-$(Get-Random)")
        Copy-Item $Corpus $Folder
        $script:Model = Join-Path $Folder 'mlp_gemm.onnx'
    }

    It 'writes model.lowrank.onnx beside the input, smaller, with a FactorizeResult whose split rows hold fewer parameters' {
        $result = Invoke-ModelFactorize $Model -MinSpeedup 0 -Keep 0.5 -WarningVariable warnings -WarningAction SilentlyContinue
        $result.PSObject.TypeNames[0] | Should -Be 'Compression.Core.Pipeline.CompressionResult'
        $result.OutputPath | Should -Be (Join-Path $Folder 'mlp_gemm.lowrank.onnx')
        Test-Path $result.OutputPath | Should -BeTrue
        (Get-Item $result.OutputPath).Length | Should -BeLessThan (Get-Item $Model).Length
        $result.OutputSizeBytes | Should -BeLessThan $result.InputSizeBytes

        $step = $result.Steps[0]
        $step.Name | Should -Be 'factorize'
        $factored = $step.Result
        $factored.GetType().FullName | Should -Be 'Compression.Core.Factorization.FactorizeResult'
        $factored.FactoredLayers | Should -BeGreaterThan 0
        $factored.ParametersAfter | Should -BeLessThan $factored.ParametersBefore
        $factored.MinSpeedup | Should -Be 0
        $factored.Refit | Should -BeFalse
        $factored.Method | Should -Be 'svd'
        @($factored.Layers).Count | Should -Be ($factored.FactoredLayers + $factored.DenseLayers)
        $split = @($factored.Layers | Where-Object Action -like 'split*')
        $split.Count | Should -Be $factored.FactoredLayers
        foreach ($row in $split) {
            $row.Rank | Should -Not -BeNullOrEmpty
            $row.ParametersAfter | Should -BeLessThan $row.ParametersBefore -Because "$($row.Node) was split"
            $row.Speedup | Should -BeNullOrEmpty -Because 'nothing is timed with -MinSpeedup 0'
        }

        # No calibration data: plain SVD, and a warning that says so.
        ($warnings | Out-String) | Should -Match 'without calibration data'
        # The table shows what was done and the bytes, the list the rank and the parameters.
        ($split[0] | Format-Table | Out-String -Width 200) | Should -Match ([regex]::Escape(('{0:N0} -> {1:N0}' -f $split[0].BytesBefore, $split[0].BytesAfter)))
        ($split[0] | Format-List | Out-String) | Should -Match ([regex]::Escape(('Parameters : {0:N0} -> {1:N0}' -f $split[0].ParametersBefore, $split[0].ParametersAfter)))
        ($split[0] | Format-List | Out-String) | Should -Match 'Rank\s*:\s*\d'
    }

    It '-WhatIf writes nothing and lists a line per layer' {
        $text = Get-WhatIfText { Invoke-ModelFactorize $Model -MinSpeedup 0 -Keep 0.5 -WhatIf -WarningAction SilentlyContinue }
        $text | Should -Match 'Factorize .*mlp_gemm\.onnx \(keep 50 % of each layer''s parameters, plain SVD'
        $layers = [regex]::Matches($text, "(?m)^\s+'[^\r\n]*\(Gemm\) \[\d+, \d+\]: (rank \d+|dense: )")
        $layers.Count | Should -Be 3
        (Get-ChildItem $Folder).Name | Should -Be 'mlp_gemm.onnx'
    }

    It 'refuses -Keep with -Rank as CMP3502 and writes nothing' {
        Invoke-ModelFactorize $Model -Keep 0.5 -Rank 8 -MinSpeedup 0 -ErrorVariable bad -ErrorAction SilentlyContinue -WarningAction SilentlyContinue |
            Should -BeNullOrEmpty
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'CMP3502,*'
        $bad[0].Exception.Message | Should -Match 'keep and rank'
        (Get-ChildItem $Folder).Name | Should -Be 'mlp_gemm.onnx'
    }

    It 'refuses -Keep 1.5 as CMP3501 and writes nothing' {
        Invoke-ModelFactorize $Model -Keep 1.5 -MinSpeedup 0 -ErrorVariable bad -ErrorAction SilentlyContinue -WarningAction SilentlyContinue |
            Should -BeNullOrEmpty
        $bad | Should -Not -BeNullOrEmpty
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'CMP3501,*'
        (Get-ChildItem $Folder).Name | Should -Be 'mlp_gemm.onnx'
    }

    It 'refuses -Refit without calibration data as CMP3503 and writes nothing' {
        Invoke-ModelFactorize $Model -Refit -MinSpeedup 0 -ErrorVariable bad -ErrorAction SilentlyContinue -WarningAction SilentlyContinue |
            Should -BeNullOrEmpty
        $bad[0].FullyQualifiedErrorId | Should -BeLike 'CMP3503,*'
        (Get-ChildItem $Folder).Name | Should -Be 'mlp_gemm.onnx'
    }
}

Describe 'Invoke-ModelFactorize with calibration data' {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path $TestDrive "factorize-data-$(Get-Random)")
        Copy-Item $Corpus $Folder
        $script:Model = Join-Path $Folder 'mlp_gemm.onnx'
        # Random inputs of the model's shapes, described as a data set: no data file needed.
        $script:Data = Join-Path $Folder 'data.yaml'
        Set-Content $Data "format: random`ncount: 32"
    }

    It '-WhatIf computes the whitened spectra on the data and predicts output errors, writing nothing' {
        $text = Get-WhatIfText { Invoke-ModelFactorize $Model -CalibrationData $Data -CalibrationSamples 32 -MinSpeedup 0 -WhatIf }
        $text | Should -Match 'whitened SVD'
        [regex]::Matches($text, 'predicted output error').Count | Should -BeGreaterThan 0
        (Get-ChildItem $Folder).Name | Sort-Object | Should -Be @('data.yaml', 'mlp_gemm.onnx')
    }

    It 'whitens on the data, and refits when asked' {
        $result = Invoke-ModelFactorize $Model -CalibrationData $Data -CalibrationSamples 32 -MinSpeedup 0 -Refit
        $factored = $result.Steps[0].Result
        $factored.Method | Should -Be 'whitened'
        $factored.Refit | Should -BeTrue
        $split = @($factored.Layers | Where-Object Action -like 'split*')
        $split.Count | Should -BeGreaterThan 0
        $split | ForEach-Object { $_.Error | Should -Not -BeNullOrEmpty; $_.Action | Should -BeLike '*refit*' }
    }
}
