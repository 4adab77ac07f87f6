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

/// The chain id the node runs.
pub async fn chain_id(c: &mut Client, url: &str) -> Result<ChainId> {
    let s = client::status(c, url).await?;
    ChainId::new(s.chain_id.clone())
        .with_context(|| format!("the node reports an invalid chain id {:?}", s.chain_id))
}

/// A signed tx.
pub fn sign(key: &Keypair, chain_id: &ChainId, nonce: u64, fuel_limit: u64, messages: Vec<Message>) -> Tx {
    Tx::sign(TxBody { chain_id: chain_id.clone(), sender: key.public(), nonce, fuel_limit, messages }, key)
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
    Ok(sign(key, chain_id, nonce, TRANSFER_FUEL, vec![Message::Execute { contract: *bank, msg }]))
}
