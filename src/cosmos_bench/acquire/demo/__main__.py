"""`python -m cosmos_bench.acquire.demo {ct,endo} OUT`: how resources/demo/ was made."""

from cosmos_bench.acquire.demo.cli import main

main()
