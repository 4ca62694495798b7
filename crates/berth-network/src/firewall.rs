//! TEMPORARY STUB: replaced by the firewall branch.
use crate::ports::Proto;
use std::net::IpAddr;
#[derive(Debug, Clone)]
pub struct Ruleset {
    pub table: String,
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PortRule>,
}
#[derive(Debug, Clone)]
pub struct NetworkRules {
    pub bridge: String,
    pub subnets: Vec<(IpAddr, u8)>,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub proto: Proto,
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
    pub bridge: String,
}
pub fn apply(_r: &Ruleset) -> std::io::Result<()> {
    Ok(())
}
pub fn remove(_t: &str) -> std::io::Result<()> {
    Ok(())
}
pub fn ensure_docker_coexistence(_b: &[NetworkRules]) -> std::io::Result<()> {
    Ok(())
}
pub fn remove_docker_coexistence<S: AsRef<str>>(_b: &[S]) -> std::io::Result<()> {
    Ok(())
}
pub fn set_route_localnet(b: &str) -> std::io::Result<()> {
    std::fs::write(format!("/proc/sys/net/ipv4/conf/{b}/route_localnet"), "1")
}
pub fn ip_forward() -> std::io::Result<bool> {
    Ok(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")?.trim() == "1")
}
pub fn set_ip_forward(on: bool) -> std::io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", if on { "1" } else { "0" })
}
