//! Talking to an `ExecApp` chain's modules through the node API: the bank's address, balances, nonces, and
//! signed txs. Query paths are `ExecApp`'s: `label/<label>`, `module/<address hex>`, `nonce/<public key hex>`.

use anyhow::{Context, Result, bail};
use borsh::BorshDeserialize;
use cairn_module_bank::msg::{ExecuteMsg, QueryMsg};
use cairn_primitives::{Address, ChainId, Keypair, Message, PublicKey, Tx, TxBody};

use super::client::{self, Client};

/// Label of the bank instance in the template genesis.
pub const BANK_LABEL: &str = "bank";
/// Fuel a transfer may burn (well above what the bank needs, well under the chain's per-tx cap).
pub const TRANSFER_FUEL: u64 = 5_000_000;

/// The address of the module instance labelled `label`.
pub async fn module_address(c: &mut Client, url: &str, label: &str) -> Result<Address> {
    let r = client::query(c, url, &format!("label/{label}"), Vec::new())
        .await
        .with_context(|| format!("cannot find the module labelled {label:?} on this chain (is it an ExecApp chain from a template?)"))?;
    let bytes: [u8; 32] = r.value.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!("label/{label} answered {} bytes, expected a 32-byte address", r.value.len())
    })?;
    Ok(Address(bytes))
}

/// Runs a module query and decodes its borsh answer.
pub async fn module_query<T: BorshDeserialize>(
    c: &mut Client,
    url: &str,
    module: &Address,
    msg: &impl borsh::BorshSerialize,
) -> Result<T> {
    let r = client::query(c, url, &format!("module/{}", module.to_hex()), borsh::to_vec(msg)?).await?;
    T::try_from_slice(&r.value).with_context(|| format!("module {module} answered bytes that do not decode"))
}

/// The bank balance of `account`.
pub async fn balance(c: &mut Client, url: &str, bank: &Address, account: &Address) -> Result<u128> {
    module_query(c, url, bank, &QueryMsg::Balance { account: account.0 }).await
}

/// The next nonce the chain expects from `sender`.
pub async fn next_nonce(c: &mut Client, url: &str, sender: &PublicKey) -> Result<u64> {
    let r = client::query(c, url, &format!("nonce/{}", sender.to_hex()), Vec::new()).await?;
    u64::try_from_slice(&r.value).context("nonce query answered bytes that do not decode as u64")
}

/// The chain's parameters (the app's `params` query, JSON: `max_tx_fuel`, `fees.min_price`, …).
pub async fn params(c: &mut Client, url: &str) -> Result<serde_json::Value> {
    let r = client::query(c, url, "params", Vec::new()).await?;
    serde_json::from_slice(&r.value).context("the params query answered something that is not JSON")
}

/// What is left of `account`'s quota this window: (fuel, bytes).
pub async fn quota(c: &mut Client, url: &str, account: &Address) -> Result<(u64, u64)> {
    let r = client::query(c, url, &format!("quota/{}", account.to_hex()), Vec::new()).await?;
    <(u64, u64)>::try_from_slice(&r.value).context("the quota query answered bytes that are not (u64, u64)")
}

/// A decimal `u128` parameter (the params query writes amounts as strings).
pub fn param_u128(params: &serde_json::Value, pointer: &str) -> Result<u128> {
    match params.pointer(pointer) {
        Some(serde_json::Value::String(s)) => {
            s.parse().with_context(|| format!("parameter {pointer}: {s:?}"))
        }
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(u128::from).with_context(|| format!("parameter {pointer}: {n}"))
        }
        _ => bail!("the chain's parameters have no {pointer}"),
    }
}

/// The fuel limit and price for a tx of `key`: `--fuel` (else the CLI's default, capped by the chain's per-tx
/// maximum) and `--price` (else 0 when the signer's quota covers the fuel, or the chain's minimum price).
pub async fn fuel_and_price(
    c: &mut Client,
    url: &str,
    signer: &Address,
    fuel: Option<u64>,
    price: Option<u128>,
) -> Result<(u64, u128)> {
    let params = params(c, url).await?;
    let max = params.get("max_tx_fuel").and_then(serde_json::Value::as_u64).unwrap_or(u64::MAX);
    let fuel = fuel.unwrap_or(DEFAULT_FUEL.min(max));
    if let Some(p) = price {
        return Ok((fuel, p));
    }
    let window = params.pointer("/fees/quota_window").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if window > 0 && quota(c, url, signer).await?.0 >= fuel {
        return Ok((fuel, 0));
    }
    Ok((fuel, param_u128(&params, "/fees/min_price")?))
}

/// The fuel limit `cairn tx` uses unless told otherwise (capped by the chain's `max_tx_fuel`).
pub const DEFAULT_FUEL: u64 = 20_000_000;

/// The chain id the node runs.
pub async fn chain_id(c: &mut Client, url: &str) -> Result<ChainId> {
    let s = client::status(c, url).await?;
    ChainId::new(s.chain_id.clone())
        .with_context(|| format!("the node reports an invalid chain id {:?}", s.chain_id))
}

/// A signed tx paying `price` per unit of fuel.
pub fn sign(
    key: &Keypair,
    chain_id: &ChainId,
    nonce: u64,
    fuel_limit: u64,
    price: u128,
    messages: Vec<Message>,
) -> Tx {
    Tx::sign(
        TxBody { chain_id: chain_id.clone(), sender: key.public(), nonce, fuel_limit, price, messages },
        key,
    )
}

/// A signed bank transfer.
pub fn transfer_tx(
    key: &Keypair,
    chain_id: &ChainId,
    nonce: u64,
    bank: &Address,
    to: &Address,
    amount: u128,
) -> Result<Tx> {
    if amount == 0 {
        bail!("--amount must be positive");
    }
    let msg = borsh::to_vec(&ExecuteMsg::Transfer { to: to.0, amount })?;
    Ok(sign(key, chain_id, nonce, TRANSFER_FUEL, 0, vec![Message::Execute { contract: *bank, msg }]))
}
