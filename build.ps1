#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests and packs Compression.
.DESCRIPTION
    Tasks:
      build  (default) builds the solution and lays out the importable module at out/Compression/
      test   builds, then runs every test layer (xunit projects, then Pester against out/Compression/)
      pack   builds, then writes the NuGet packages to out/packages/
      demo   builds, restores all-MiniLM-L6-v2 from NuGet, shows what it holds, quantizes it to int8, checks STS-B Spearman
             before and after on the pairs in examples/data, and prints the report and a one-line summary
      docs   rewrites the generated parts of the docs (recipe JSON Schema, recipe key reference)
      clean  removes out/ and every bin/ and obj/
    Run on a fresh machine as: dotnet tool restore && dotnet pwsh ./build.ps1 <task>
.EXAMPLE
    dotnet pwsh ./build.ps1 test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'pack', 'demo', 'docs', 'clean')]
    [string[]] $Task = @('build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Module and package version; defaults to the one in Directory.Build.props.
    [string] $Version
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:NO_COLOR = '1'

$Root = $PSScriptRoot
$Out = Join-Path $Root 'out'
$ModuleOut = Join-Path $Out 'Compression'
$Packages = Join-Path $Out 'packages'
# ONNX Runtime ships native libraries for many platforms; the module carries these.
$ModuleRuntimes = @('linux-x64', 'linux-arm64', 'osx-arm64', 'win-x64')

if (-not $Version) {
    $Version = ([xml](Get-Content (Join-Path $Root 'Directory.Build.props'))).SelectSingleNode('/Project/PropertyGroup/Version').InnerText
}

# A child pwsh runs the module's tests and demo, so no DLL of ours stays loaded in this session.
function Invoke-ChildPwsh([string] $Command) {
    $pwshDll = Join-Path $PSHOME 'pwsh.dll'
    if (Test-Path $pwshDll) {
        & dotnet $pwshDll -NoProfile -NonInteractive -Command $Command
    }
    else {
        & ([Environment]::ProcessPath) -NoProfile -NonInteractive -Command $Command
    }
}

function Invoke-Dotnet {
    # A plain function (no [Parameter]), so dotnet's own switches such as -o are not taken as common parameters.
    $Arguments = [string[]]$args
    Write-Host "dotnet $($Arguments -join ' ')" -ForegroundColor DarkGray
    & dotnet @Arguments
    if ($LASTEXITCODE -ne 0) { throw "dotnet $($Arguments[0]) failed with exit code $LASTEXITCODE." }
}

function Invoke-Build {
    Invoke-Dotnet build (Join-Path $Root 'Compression.slnx') -c $Configuration "-p:Version=$Version"

    # The module: the entry DLL (cmdlets only) at the top, the engine and every dependency in Dependencies/,
    # loaded in the module's own AssemblyLoadContext.
    $staging = Join-Path $Out 'obj/module'
    if (Test-Path $staging) { Remove-Item $staging -Recurse -Force }
    Invoke-Dotnet publish (Join-Path $Root 'module/Compression.PowerShell') -c $Configuration -o $staging --no-build "-p:Version=$Version"

    if (Test-Path $ModuleOut) { Remove-Item $ModuleOut -Recurse -Force }
    $dependencies = New-Item -ItemType Directory -Path (Join-Path $ModuleOut 'Dependencies') -Force
    foreach ($item in Get-ChildItem $staging) {
        switch -Regex ($item.Name) {
            '^Compression\.PowerShell\.(dll|pdb)$' { Copy-Item $item.FullName $ModuleOut; break }
            '^Compression\.format\.ps1xml$' { Copy-Item $item.FullName $ModuleOut; break }
            '^Compression\.PowerShell\.deps\.json$' { break }
            '^runtimes$' {
                foreach ($rid in $ModuleRuntimes) {
                    $native = Join-Path $item.FullName "$rid/native"
                    if (Test-Path $native) {
                        $target = New-Item -ItemType Directory -Path (Join-Path $dependencies "runtimes/$rid/native") -Force
                        Get-ChildItem $native -File | Where-Object Extension -ne '.lib' | Copy-Item -Destination $target
                    }
                }
                break
            }
            default { Copy-Item $item.FullName $dependencies -Recurse }
        }
    }

    $manifest = Get-Content (Join-Path $Root 'Compression.psd1') -Raw
    $manifest = $manifest -replace "ModuleVersion\s*=\s*'[^']*'", "ModuleVersion        = '$Version'"
    Set-Content -Path (Join-Path $ModuleOut 'Compression.psd1') -Value $manifest -NoNewline

    # Help: MAML and about topics from docs/cmdlets, with parameter facts from the built cmdlets.
    $helpScript = Join-Path $Root 'module/Compression.PowerShell/Help/ConvertTo-MamlHelp.ps1'
    Invoke-ChildPwsh "& '$helpScript' -ModulePath '$(Join-Path $ModuleOut 'Compression.psd1')' -DocsPath '$(Join-Path $Root 'docs/cmdlets')' -OutputFolder '$(Join-Path $ModuleOut 'en-US')'"
    if ($LASTEXITCODE -ne 0) { throw 'Building the help failed.' }
    Write-Host "Module laid out at $ModuleOut (version $Version)."
}

function Invoke-Test {
    Invoke-Build
    $results = Join-Path $Out 'test-results'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    Invoke-Dotnet test (Join-Path $Root 'Compression.slnx') -c $Configuration --no-build --logger 'console;verbosity=normal' --logger 'trx' --results-directory $results

    $pesterTests = Join-Path $Root 'tests/pester'
    if (Get-ChildItem $pesterTests -Filter '*.Tests.ps1' -ErrorAction SilentlyContinue) {
        Invoke-Dotnet restore (Join-Path $pesterTests 'Pester.csproj')
        $pester = Join-Path ([Environment]::GetEnvironmentVariable('NUGET_PACKAGES') ?? (Join-Path $HOME '.nuget/packages')) 'pester/6.2.0/tools/Pester.psd1'
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$pester'
`$config = New-PesterConfiguration
`$config.Run.Path = '$pesterTests'
`$config.Run.Exit = `$true
`$config.Output.Verbosity = 'Detailed'
`$config.TestResult.Enabled = `$true
`$config.TestResult.OutputFormat = 'JUnitXml'
`$config.TestResult.OutputPath = '$(Join-Path $results 'pester.xml')'
`$env:COMPRESSION_MODULE = '$(Join-Path $ModuleOut 'Compression.psd1')'
Invoke-Pester -Configuration `$config
"@
        Invoke-ChildPwsh $script
        if ($LASTEXITCODE -ne 0) { throw "Pester tests failed ($LASTEXITCODE)." }
    }

    Write-TestSummary $results
}

# One closing line over every layer, in the plain 'N passed, N failed, N skipped' form CI systems read.
function Write-TestSummary([string] $results) {
    $passed = $failed = $skipped = 0
    foreach ($trx in Get-ChildItem $results -Filter '*.trx' -Recurse) {
        $counters = ([xml](Get-Content -LiteralPath $trx.FullName -Raw)).TestRun.ResultSummary.Counters
        $passed += [int]$counters.passed
        $failed += [int]$counters.failed + [int]$counters.error + [int]$counters.timeout
        $skipped += [int]$counters.total - [int]$counters.executed
    }
    $junit = Join-Path $results 'pester.xml'
    if (Test-Path $junit) {
        foreach ($suite in ([xml](Get-Content -LiteralPath $junit -Raw)).testsuites.testsuite) {
            $passed += [int]$suite.tests - [int]$suite.failures - [int]$suite.errors - [int]$suite.skipped
            $failed += [int]$suite.failures + [int]$suite.errors
            $skipped += [int]$suite.skipped
        }
    }
    Write-Host "Tests: $passed passed, $failed failed, $skipped skipped"
}

function Invoke-Pack {
    Invoke-Build
    New-Item -ItemType Directory -Path $Packages -Force | Out-Null
    # The MSBuild task package: the task, the engine and their dependencies under tasks/net8.0.
    Invoke-Dotnet pack (Join-Path $Root 'tasks/Compression.Build') -c $Configuration -o $Packages "-p:Version=$Version"
    # The module as a gallery-ready NuGet package, published to a local folder repository.
    $repository = 'CompressionLocalBuild'
    if (Get-PSResourceRepository -Name $repository -ErrorAction SilentlyContinue) { Unregister-PSResourceRepository -Name $repository }
    Register-PSResourceRepository -Name $repository -Uri $Packages -Trusted
    try {
        Get-ChildItem $Packages -Filter "Compression.$Version.nupkg" | Remove-Item
        Publish-PSResource -Path $ModuleOut -Repository $repository -SkipDependenciesCheck
    }
    finally {
        Unregister-PSResourceRepository -Name $repository
    }
    Get-ChildItem $Packages -Filter '*.nupkg' | ForEach-Object { Write-Host "Packed $($_.FullName) ($([math]::Round($_.Length / 1MB, 1)) MB)" }
}

function Invoke-Demo {
    Invoke-Build
    $model = & (Join-Path $Root 'examples/scripts/Get-ExampleModel.ps1') -Name MiniLM -Destination (Join-Path $Out 'models')
    $quantized = Join-Path $Out 'models/all-MiniLM-L6-v2.int8.onnx'
    # Dynamic int8, checked on 48 STS-B sentence pairs committed in examples/data: the task metric before and after.
    $recipe = Join-Path $Root 'examples/recipes/all-MiniLM-L6-v2-demo.yaml'
    $script = @"
Import-Module '$(Join-Path $ModuleOut 'Compression.psd1')'
# Lists as wide as their lines: a child pwsh without a terminal would wrap them at 80 columns.
Get-ModelInfo -LiteralPath '$model' | Format-List | Out-String -Width 160 | ForEach-Object TrimEnd
`$result = Invoke-ModelCompression -LiteralPath '$model' -Recipe '$recipe' -OutputPath '$quantized' -Force
if (-not `$result) { exit 1 }
`$result | Format-List | Out-String -Width 160 | ForEach-Object TrimEnd
"Demo: $(Split-Path -Leaf $model): `$(`$result.Summary)"
if (-not `$result.Passed) { exit 1 }
"@
    Invoke-ChildPwsh $script
    if ($LASTEXITCODE -ne 0) { throw "The demo failed ($LASTEXITCODE)." }
}

function Invoke-Docs {
    # The test that checks the generated docs rewrites them first when asked to.
    $env:COMPRESSION_UPDATE_DOCS = '1'
    try {
        Invoke-Dotnet test (Join-Path $Root 'tests/Compression.Core.Tests') -c $Configuration --filter 'FullyQualifiedName~The_checked_in_schema_and_key_reference_match_the_code'
    }
    finally {
        Remove-Item Env:COMPRESSION_UPDATE_DOCS
    }
}

function Invoke-Clean {
    if (Test-Path $Out) { Remove-Item $Out -Recurse -Force }
    Get-ChildItem $Root -Directory -Recurse -Include 'bin', 'obj' |
        Where-Object { $_.FullName -notmatch '[\\/]\.git[\\/]' } |
        Remove-Item -Recurse -Force
    Write-Host 'Cleaned.'
}

foreach ($name in $Task) {
    switch ($name) {
        'build' { Invoke-Build }
        'test' { Invoke-Test }
        'pack' { Invoke-Pack }
        'demo' { Invoke-Demo }
        'docs' { Invoke-Docs }
        'clean' { Invoke-Clean }
    }
}
