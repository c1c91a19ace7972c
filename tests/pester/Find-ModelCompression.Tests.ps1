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

Describe 'Find-ModelCompression' -Skip:(-not $HasShared) {
    BeforeEach {
        $script:Folder = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "pester-$PID-$(Get-Random)")
        Copy-Item (Join-Path $Assets 'mnist/mnist-8.onnx') $Folder
        $script:Model = Join-Path $Folder 'mnist-8.onnx'
        $script:Recipe = Join-Path $Folder 'search.yaml'
        function script:Write-Recipe([string] $Constraint = 'accuracy_drop <= 0.01', [int] $Trials = 3) {
            Set-Content $Recipe @"
version: 1
data:
  search: { format: idx, path: $Images, labels: $Labels, take: 300 }
  held_out: { format: idx, path: $Images, labels: $Labels, skip: 5000, take: 300 }
steps:
  - quantize: { mode: dynamic }
evaluate: { data: held_out }
search:
  data: search
  space:
    quantize.mode: [dynamic, weight_only]
    quantize.per_channel: [false, true]
  constraints: ["$Constraint"]
  strategy: grid
  budget: { trials: $Trials }
output: "{name}.searched.onnx"
"@
        }
        Write-Recipe
    }
    AfterEach { Remove-Item $Folder -Recurse -Force }

    It 'searches, writes the chosen model and returns the trials and the front' {
        $result = Find-ModelCompression -Path $Model -Recipe $Recipe
        $result.PSObject.TypeNames[0] | Should -Be 'Compression.Core.Search.SearchResult'
        @($result.Trials).Count | Should -Be 3
        $result.Chosen | Should -Not -BeNullOrEmpty
        $result.Chosen.Feasible | Should -BeTrue
        @($result.Front).Count | Should -BeGreaterThan 0
        $result.OutputPath | Should -Be (Join-Path $Folder 'mnist-8.searched.onnx')
        Test-Path $result.PlotPath | Should -BeTrue
        Test-Path $result.JournalPath | Should -BeTrue
        $result.Final.Evaluation.DataSet | Should -Be 'held_out'
        ($result | Format-Table | Out-String -Width 300) | Should -Match 'mnist-8\.onnx +3 \(0 resumed\) +\d +trial \d: [\d,]+ bytes'
        ($result.Trials | Format-Table | Out-String -Width 300) | Should -Match 'quantize\.mode=dynamic'
        ($result | Format-List | Out-String -Width 300) | Should -Match 'Trials\s+: 3 \(3 evaluated, 0 from the journal'
        ($result.Chosen | Format-List | Out-String -Width 300) | Should -Match 'quantize\.mode = '
    }

    It 'resumes from its journal: a second run evaluates nothing again' {
        Find-ModelCompression -Path $Model -Recipe $Recipe | Out-Null
        $again = Find-ModelCompression -Path $Model -Recipe $Recipe -Trials 4 -Force
        $again.Resumed | Should -Be 3
        $again.Evaluated | Should -Be 1
        @($again.Trials).Count | Should -Be 4
    }

    It '-WhatIf shows the space and the budget and writes nothing' {
        # What-if text goes to the host only: a transcript records it.
        $transcript = Join-Path ([IO.Path]::GetTempPath()) "whatif-$PID-$(Get-Random).txt"
        Start-Transcript -Path $transcript | Out-Null
        Find-ModelCompression -Path $Model -Recipe $Recipe -WhatIf
        Stop-Transcript | Out-Null
        $out = Get-Content $transcript -Raw
        Remove-Item $transcript
        $out | Should -Match '2 dimension\(s\), 4 configurations; budget 3 trial\(s\), grid'
        (Get-ChildItem $Folder).Name | Sort-Object | Should -Be @('mnist-8.onnx', 'search.yaml')
    }

    It 'says so when no trial meets the constraints, naming the closest (CMP4108)' {
        Write-Recipe -Constraint 'size <= 1 KB'
        $result = Find-ModelCompression -Path $Model -Recipe $Recipe -ErrorVariable errors -ErrorAction SilentlyContinue
        $result.Chosen | Should -BeNullOrEmpty
        $result.Closest | Should -Not -BeNullOrEmpty
        $errors[0].FullyQualifiedErrorId | Should -BeLike 'CMP4108*'
        "$($errors[0])" | Should -Match 'The closest was trial \d+'
        Test-Path (Join-Path $Folder 'mnist-8.searched.onnx') | Should -BeFalse
    }

    It 'refuses a budget of 0 before any trial (CMP4104)' {
        { Find-ModelCompression -Path $Model -Recipe $Recipe -Trials 0 -ErrorAction Stop } | Should -Throw -ErrorId 'CMP4104*'
        Write-Recipe -Trials 0
        { Find-ModelCompression -Path $Model -Recipe $Recipe -ErrorAction Stop } | Should -Throw -ErrorId 'CMP4104*'
        Test-Path (Join-Path $Folder 'mnist-8.searched.onnx.search.jsonl') | Should -BeFalse
    }

    It 'takes -Strategy from its set only' {
        { Find-ModelCompression -Path $Model -Recipe $Recipe -Strategy Annealing } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }
}
