using BenchmarkDotNet.Running;

// Run one suite:   dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --filter '*Iso8583*'
// List them all:   dotnet run -c Release --project benchmarks/CardlessAtm.Benchmarks -- --list flat
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
