BeforeDiscovery {
    $HasShared = Test-Path (Join-Path $PSScriptRoot '../../../shared/assets/mnist/mnist-8.onnx')
}

BeforeAll {
    $script:ModulePath = $env:COMPRESSION_MODULE ?? (Join-Path $PSScriptRoot '../../out/Compression/Compression.psd1')
    $script:Packages = [Environment]::GetEnvironmentVariable('NUGET_PACKAGES') ?? (Join-Path $HOME '.nuget/packages')
    $script:Mnist = Join-Path $PSScriptRoot '../../../shared/assets/mnist/mnist-8.onnx'

    # Runs a script in a fresh pwsh and returns its output lines: load order is per process.
    function Invoke-Fresh([string] $script) {
        $pwshDll = Join-Path $PSHOME 'pwsh.dll'
        $output = if (Test-Path $pwshDll) { & dotnet $pwshDll -NoProfile -NonInteractive -Command $script 2>&1 } else { & ([Environment]::ProcessPath) -NoProfile -NonInteractive -Command $script 2>&1 }
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object ToString) }
    }
}

Describe 'Dependency isolation' -Skip:(-not $HasShared) {
    It 'works in a session where another YamlDotNet and Google.Protobuf were loaded first' {
        $yaml = Join-Path $Packages 'yamldotnet/16.3.0/lib/net8.0/YamlDotNet.dll'
        $protobuf = Join-Path $Packages 'google.protobuf/3.25.1/lib/net5.0/Google.Protobuf.dll'
        $recipe = Join-Path ([IO.Path]::GetTempPath()) "isolation-$PID.yaml"
        Set-Content $recipe 'steps: []'
        try {
            $result = Invoke-Fresh @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$yaml'
Add-Type -Path '$protobuf'
`$null = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build()
Import-Module '$ModulePath'
'models:' + (Get-ModelInfo '$Mnist').ParameterCount
'recipe:' + @(Test-CompressionRecipe '$recipe').Count
'yaml:' + (([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'YamlDotNet' } | ForEach-Object { `$_.GetName().Version.Major } | Sort-Object) -join ',')
"@
            $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
            $result.Output | Should -Contain 'models:5998'
            $result.Output | Should -Contain 'recipe:0'
            $result.Output | Should -Contain 'yaml:16,18'
        }
        finally { Remove-Item $recipe }
    }

    It 'can be removed and imported again in the same session' {
        $result = Invoke-Fresh @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModulePath'
`$null = Get-ModelInfo '$Mnist'
Remove-Module Compression
Import-Module '$ModulePath'
'again:' + (Get-ModelInfo '$Mnist').NodeCount
"@
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $result.Output | Should -Contain 'again:12'
    }
}
