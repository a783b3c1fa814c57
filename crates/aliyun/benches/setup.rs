//! Client construction (`cargo bench -p moat-aliyun --bench setup`).
//!
//! A run over ten accounts and three regions builds thirty clients, each
//! with its own HTTP pool and TLS configuration. This times `Client::new`
//! for thirty clients in one process: the first (which loads the platform's
//! trust store) and the other twenty-nine. Run the binary several times:
//! the first client's cost is only seen once per process.

use std::time::{Duration, Instant};

use moat_aliyun::{Client, ClientConfig, Credentials};

const CLIENTS: usize = 30;

fn main() {
    // `Client::new` needs no runtime, but a real caller builds clients in
    // one, and reqwest's pool is bound to it at first use.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let credentials = Credentials::access_key("LTAI5tBenchSetupKey01", "bench-secret");
    let regions = ["cn-hangzhou", "cn-shanghai", "cn-beijing"];
    let times: Vec<Duration> = runtime.block_on(async {
        (0..CLIENTS)
            .map(|i| {
                let config =
                    ClientConfig::with_credentials(regions[i % regions.len()], credentials.clone());
                let t0 = Instant::now();
                let client = Client::new(&config).expect("a valid config");
                let elapsed = t0.elapsed();
                std::hint::black_box(client);
                elapsed
            })
            .collect()
    });
    let mut rest = times[1..].to_vec();
    rest.sort();
    let total: Duration = times.iter().sum();
    println!(
        "| {CLIENTS} clients | first {:.2?} | next {}: median {:.2?}, min {:.2?}, max {:.2?} | total {:.2?} |",
        times[0],
        rest.len(),
        rest[rest.len() / 2],
        rest[0],
        rest[rest.len() - 1],
        total
    );
}
