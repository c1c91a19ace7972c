# The public contract of every cmdlet: parameter names, types, mandatory, position and pipeline binding per
# parameter set, plus the conventions every cmdlet follows. Changing a contract means changing this table on purpose.
# Each entry: 'Type', 'Set:Flags' per set, where the flags are M (mandatory) or o, V (pipeline by value),
# P (by property name) and the position.

BeforeDiscovery {
    # The data parameters Measure-Model and Compare-Model share.
    $data = [ordered]@{
        Data = 'String', '__AllParameterSets:M'
        Recipe = 'String', '__AllParameterSets:o'
        Labels = 'String', '__AllParameterSets:o'
        Take = 'Int32', '__AllParameterSets:o'
        BatchSize = 'Int32', '__AllParameterSets:o'
        Threads = 'Int32', '__AllParameterSets:o'
        Latency = 'SwitchParameter', '__AllParameterSets:o'
        Metric = 'String[]', '__AllParameterSets:o'
    }
    $script:Contracts = [ordered]@{
        'Compare-Model'           = [ordered]@{
            Reference = 'String', '__AllParameterSets:M0'
            Difference = 'String', '__AllParameterSets:MVP1'
        } + $data
        'Find-ModelCompression'   = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
            Recipe = 'String', '__AllParameterSets:M'
            Trials = 'Int32', '__AllParameterSets:o'
            Strategy = 'String', '__AllParameterSets:o'
            Parallel = 'Int32', '__AllParameterSets:o'
            OutputPath = 'String', '__AllParameterSets:o'
            JournalPath = 'String', '__AllParameterSets:o'
            Force = 'SwitchParameter', '__AllParameterSets:o'
        }
        'Get-ModelInfo'           = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
        }
        'Invoke-ModelCompression' = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
            Recipe = 'String', '__AllParameterSets:M'
            OutputPath = 'String', '__AllParameterSets:o'
            Force = 'SwitchParameter', '__AllParameterSets:o'
        }
        'Invoke-ModelQuantize'    = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
            OutputPath = 'String', '__AllParameterSets:o'
            Mode = 'String', '__AllParameterSets:o'
            CalibrationData = 'String', '__AllParameterSets:o'
            Method = 'String', '__AllParameterSets:o'
            PerChannel = 'SwitchParameter', '__AllParameterSets:o'
            Format = 'String', '__AllParameterSets:o'
            ActivationType = 'String', '__AllParameterSets:o'
            WeightType = 'String', '__AllParameterSets:o'
            Bits = 'Int32', '__AllParameterSets:o'
            BlockSize = 'Int32', '__AllParameterSets:o'
            Algorithm = 'String', '__AllParameterSets:o'
            Exclude = 'String[]', '__AllParameterSets:o'
            Force = 'SwitchParameter', '__AllParameterSets:o'
        }
        'Invoke-ModelFactorize'   = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
            OutputPath = 'String', '__AllParameterSets:o'
            Keep = 'Nullable`1', '__AllParameterSets:o'
            Rank = 'Nullable`1', '__AllParameterSets:o'
            Energy = 'Nullable`1', '__AllParameterSets:o'
            RoundTo = 'Int32', '__AllParameterSets:o'
            Method = 'String', '__AllParameterSets:o'
            Allocation = 'String', '__AllParameterSets:o'
            Refit = 'SwitchParameter', '__AllParameterSets:o'
            Conv = 'String', '__AllParameterSets:o'
            MinSpeedup = 'Double', '__AllParameterSets:o'
            Exclude = 'String[]', '__AllParameterSets:o'
            CalibrationData = 'String', '__AllParameterSets:o'
            CalibrationSamples = 'Int32', '__AllParameterSets:o'
            Force = 'SwitchParameter', '__AllParameterSets:o'
        }
        'Invoke-ModelPrune'       = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
            OutputPath = 'String', '__AllParameterSets:o'
            Sparsity = 'Double', '__AllParameterSets:o'
            Method = 'String', '__AllParameterSets:o'
            Pattern = 'String', '__AllParameterSets:o'
            Criterion = 'String', '__AllParameterSets:o'
            Scope = 'String', '__AllParameterSets:o'
            CalibrationData = 'String', '__AllParameterSets:o'
            Reconstruct = 'SwitchParameter', '__AllParameterSets:o'
            Heads = 'Int32', '__AllParameterSets:o'
            Neurons = 'Nullable`1', '__AllParameterSets:o'
            Channels = 'Nullable`1', '__AllParameterSets:o'
            Coupled = 'SwitchParameter', '__AllParameterSets:o'
            Exclude = 'String[]', '__AllParameterSets:o'
            LayerSparsity = 'IDictionary', '__AllParameterSets:o'
            Force = 'SwitchParameter', '__AllParameterSets:o'
        }
        'Measure-Model'           = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
        } + $data
        'Test-CompressionRecipe'  = [ordered]@{
            Path = 'String[]', 'Path:MVP0'
            LiteralPath = 'String[]', 'LiteralPath:MP'
        }
    }
    $script:Writers = @('Find-ModelCompression', 'Invoke-ModelCompression', 'Invoke-ModelFactorize', 'Invoke-ModelPrune', 'Invoke-ModelQuantize')
    $ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    Import-Module $ModulePath -Force
    $script:Exported = (Get-Command -Module Compression).Name | Sort-Object
}

BeforeAll {
    $script:ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    Import-Module $ModulePath -Force
    $script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

    function Get-Contract([string] $Name) {
        $contract = [ordered]@{}
        foreach ($parameter in (Get-Command $Name).Parameters.Values | Where-Object Name -NotIn $Common) {
            $sets = foreach ($set in $parameter.ParameterSets.GetEnumerator() | Sort-Object Key) {
                $m = $set.Value
                $flags = ($m.IsMandatory ? 'M' : 'o') + ($m.ValueFromPipeline ? 'V' : '') + ($m.ValueFromPipelineByPropertyName ? 'P' : '') + ($m.Position -ge 0 ? "$($m.Position)" : '')
                "$($set.Key):$flags"
            }
            $contract[$parameter.Name] = "$($parameter.ParameterType.Name), $($sets -join ' ')"
        }
        $contract
    }
}

Describe 'The contract table' {
    It 'covers every exported cmdlet' {
        $Exported | Should -Be ($Contracts.Keys | Sort-Object)
    }
}

Describe '<_>' -ForEach $Exported {
    BeforeAll {
        $script:Name = $_
        $script:Command = Get-Command $Name
    }

    It 'has exactly the parameters of its contract, with their types, sets and pipeline binding' {
        $actual = Get-Contract $Name
        $expected = $Contracts[$Name]
        ($actual.Keys | Sort-Object) | Should -Be ($expected.Keys | Sort-Object)
        foreach ($key in $expected.Keys) {
            $actual[$key] | Should -Be ($expected[$key] -join ', ') -Because "-$key of $Name"
        }
    }

    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $Command.Verb
    }

    It 'declares its output type' {
        $Command.OutputType.Name | Should -Not -BeNullOrEmpty
    }

    It 'supports -WhatIf and -Confirm exactly when it writes files' {
        $Command.Parameters.ContainsKey('WhatIf') | Should -Be ($Name -in $Writers)
        $Command.Parameters.ContainsKey('Confirm') | Should -Be ($Name -in $Writers)
    }

    It 'offers -Force exactly when it writes files' {
        $Command.Parameters.ContainsKey('Force') | Should -Be ($Name -in $Writers)
    }
}

Describe 'Compression.format.ps1xml' {
    It 'has a table view and a list view for every type it formats' {
        [xml] $format = Get-Content (Join-Path (Split-Path $ModulePath) 'Compression.format.ps1xml') -Raw
        $views = $format.Configuration.ViewDefinitions.View
        foreach ($type in $views.ViewSelectedBy.TypeName | Sort-Object -Unique) {
            $mine = $views | Where-Object { $_.ViewSelectedBy.TypeName -eq $type }
            @($mine | Where-Object TableControl).Count | Should -Be 1 -Because "$type needs a table view"
            @($mine | Where-Object ListControl).Count | Should -Be 1 -Because "$type needs a list view"
        }
    }

    It 'formats the output type of every cmdlet' {
        [xml] $format = Get-Content (Join-Path (Split-Path $ModulePath) 'Compression.format.ps1xml') -Raw
        $formatted = $format.Configuration.ViewDefinitions.View.ViewSelectedBy.TypeName
        foreach ($command in Get-Command -Module Compression) {
            foreach ($type in $command.OutputType.Name) { $formatted | Should -Contain $type -Because "$($command.Name) outputs $type" }
        }
    }
}
